# Nomad agent for dts development, tests and `make demo-nomad`: one server and one client on
# loopback. Never a production config.
#
# Tests and the demo add a second -config file with the ports, data_dir and Consul address.
# Start it with AWS_CA_BUNDLE unset, or fingerprinting fails.

bind_addr            = "127.0.0.1"
disable_update_check = true
log_level            = "INFO"

advertise {
  http = "127.0.0.1"
  rpc  = "127.0.0.1"
  serf = "127.0.0.1"
}

server {
  enabled          = true
  bootstrap_expect = 1

  # Lets worker jobs use memory_max (burst above their reservation).
  default_scheduler_config {
    memory_oversubscription_enabled = true
  }
}

client {
  enabled           = true
  network_interface = "lo"

  options = {
    # Never probe cloud metadata endpoints.
    "fingerprint.denylist" = "env_aws,env_gce,env_azure,env_digitalocean"
  }
}

plugin "raw_exec" {
  config {
    enabled = true
  }
}

telemetry {
  disable_hostname = true
}
