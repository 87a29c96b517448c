# Consul agent for dts development, tests and `make demo-nomad`, run as
#   consul agent -dev -config-file deploy/consul/dev.hcl
# Loopback only. Never a production config. Tests add the ports with -hcl.

client_addr          = "127.0.0.1"
bind_addr            = "127.0.0.1"
advertise_addr       = "127.0.0.1"
disable_update_check = true
log_level            = "WARN"

ports {
  dns  = -1
  grpc = -1
}
