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

# Every worker on this machine talks to Consul from 127.0.0.1 with two long-lived blocking
# queries (its lock and its spec) and its session renewals; Consul's default of 200 connections
# per client address refuses them from about the 70th worker on (429), and with them the
# dispatchers. A production agent local to a Nomad client that runs many workers needs the same
# (three per worker).
limits {
  http_max_conns_per_client = 4096
}
