package dispatcher

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// HostAllowList is where the dispatcher's default replication account may log in. Without one,
// any API caller could submit a task whose source is a server they run and so collect the
// default account's password; the dispatcher therefore refuses to start with a default account
// and no list.
//
// Host names are matched as names (case-insensitively, without a trailing dot) and IP addresses
// against networks. A name is never resolved: a name that resolves into an allowed network is not
// allowed by that network, because DNS can be changed after the check.
type HostAllowList struct {
	names map[string]bool
	nets  []netip.Prefix
	text  string
}

// ParseHostAllowList reads a comma-separated list of host names, IP addresses and networks
// (CIDR), as --source-allow takes it.
func ParseHostAllowList(s string) (*HostAllowList, error) {
	l := &HostAllowList{names: make(map[string]bool)}
	var kept []string
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		switch {
		case strings.Contains(e, "*"):
			return nil, fmt.Errorf("%q: wildcards are not supported; list host names, IP addresses or networks (CIDR)", e)
		case strings.Contains(e, "/"):
			p, err := netip.ParsePrefix(e)
			if err != nil {
				return nil, fmt.Errorf("%q is not a network (CIDR such as 10.0.0.0/8): %w", e, err)
			}
			if p.Addr().Is4In6() {
				p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
			}
			l.nets = append(l.nets, p.Masked())
		default:
			if a, err := netip.ParseAddr(e); err == nil {
				a = a.Unmap()
				l.nets = append(l.nets, netip.PrefixFrom(a, a.BitLen()))
				break
			}
			name := normalizeName(e)
			if !isHostName(name) {
				return nil, fmt.Errorf("%q is neither an IP address, a network (CIDR) nor a host name", e)
			}
			l.names[name] = true
		}
		kept = append(kept, e)
	}
	if len(kept) == 0 {
		return nil, errors.New("the list is empty")
	}
	l.text = strings.Join(kept, ",")
	return l, nil
}

// Allows reports whether the default account may log in to host, a task's source.host.
func (l *HostAllowList) Allows(host string) bool {
	if l == nil {
		return false
	}
	host = strings.TrimSpace(host)
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap().WithZone("")
		for _, p := range l.nets {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return l.names[normalizeName(host)]
}

// String is the list as given, without blanks.
func (l *HostAllowList) String() string {
	if l == nil {
		return ""
	}
	return l.text
}

func normalizeName(s string) string {
	return strings.ToLower(strings.TrimSuffix(s, "."))
}

// isHostName reports whether s is a DNS host name: dot-separated labels of letters, digits and
// inner hyphens, each at most 63 characters, 253 in all.
func isHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
