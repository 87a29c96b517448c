// Package e2e holds the tests that build the dts binary and drive it as operators do (as
// tailscale's tstest/integration does): `dts dev` and `dts dispatcher` processes on real MariaDB,
// Consul, Nomad and a Kafka-protocol broker from internal/testenv, called with curl and the Go
// client, killed and restarted. Tests of one package's logic live beside that package.
package e2e
