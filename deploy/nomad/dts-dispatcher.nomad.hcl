# dts dispatchers as a Nomad service job. Dispatchers are stateless (tasks live in Consul KV),
# so run as many as you like behind the Consul service "dts-dispatcher".
#
# Before the first run, store the secrets in the job's Nomad Variable (never in this file):
#
#   nomad var put nomad/jobs/dts-dispatcher \
#     auth_user=... auth_password=... \
#     source_user=... source_password=... source_allow=10.0.0.0/8,db1.example.com \
#     nomad_token=... consul_token=...
#
# Values reach the dispatcher base64-encoded (DTS_*_B64), so any character survives the env
# file. auth_*: the API's Basic auth. source_*: the default replication account, used by tasks that
# give only the source's host and port; source_allow lists the hosts and networks it may log in
# to (required with source_user). The tokens are needed when ACLs are on: the Nomad token
# must be allowed to submit, read and list jobs and to write, list and delete variables under
# nomad/jobs/dts-task-* (the reconciler lists them to find what a dispatcher that died left), the
# Consul token to write the KV prefix dts/ and to create sessions (the reconciler's lock).

variable "dts_binary" {
  type        = string
  description = "Path of the dts binary on every client (workers run the same binary)."
  default     = "/usr/local/bin/dts"
}

variable "count" {
  type    = number
  default = 2
}

# What each worker reserves (a task's own "resources" override them). An idle worker uses about
# 1 ms of CPU per second and 25 MiB; these fit a few hundred lightly loaded workers on a 2-core
# client. memory_max lets a worker burst (an initial copy of wide rows) where memory is free.
variable "worker_cpu" {
  type    = number
  default = 20
}

variable "worker_memory" {
  type    = number
  default = 64
}

variable "worker_memory_max" {
  type    = number
  default = 512
}

job "dts-dispatcher" {
  type = "service"

  group "dispatcher" {
    count = var.count

    network {
      port "http" {}
    }

    service {
      name     = "dts-dispatcher"
      port     = "http"
      provider = "consul"

      check {
        type     = "http"
        path     = "/healthz"
        interval = "10s"
        timeout  = "3s"
      }
    }

    restart {
      attempts = 5
      interval = "5m"
      delay    = "10s"
      mode     = "delay"
    }

    update {
      max_parallel     = 1
      min_healthy_time = "10s"
      auto_revert      = true
    }

    task "dispatcher" {
      driver = "exec"

      config {
        command = var.dts_binary
        args = ["dispatcher", "--listen", "${NOMAD_ADDR_http}", "--worker-command", var.dts_binary, "--driver", "exec",
          "--worker-cpu", "${var.worker_cpu}", "--worker-memory", "${var.worker_memory}", "--worker-memory-max", "${var.worker_memory_max}"]
      }

      # Talk to the local Consul agent, and to Nomad through this task's own API socket.
      env {
        CONSUL_HTTP_ADDR = "127.0.0.1:8500"
        NOMAD_ADDR       = "unix://${NOMAD_SECRETS_DIR}/api.sock"
        DTS_LOG_FORMAT   = "json"
      }

      identity {
        env = true
      }

      template {
        destination = "${NOMAD_SECRETS_DIR}/dispatcher.env"
        env         = true
        change_mode = "restart"
        data        = <<-EOT
        {{ with nomadVar "nomad/jobs/dts-dispatcher" -}}
        DTS_AUTH_USER_B64={{ .auth_user.Value | base64Encode }}
        DTS_AUTH_PASSWORD_B64={{ .auth_password.Value | base64Encode }}
        {{ if .source_user }}DTS_SOURCE_USER_B64={{ .source_user.Value | base64Encode }}{{ end }}
        {{ if .source_password }}DTS_SOURCE_PASSWORD_B64={{ .source_password.Value | base64Encode }}{{ end }}
        {{ if .source_allow }}DTS_SOURCE_ALLOW={{ .source_allow.Value }}{{ end }}
        {{ if .nomad_token }}NOMAD_TOKEN={{ .nomad_token.Value }}{{ end }}
        {{ if .consul_token }}CONSUL_HTTP_TOKEN={{ .consul_token.Value }}{{ end }}
        {{- end }}
        EOT
      }

      resources {
        cpu    = 200
        memory = 128
      }

      kill_timeout = "15s"
    }
  }
}
