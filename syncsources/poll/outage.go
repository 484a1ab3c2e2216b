package poll

import "regexp"

// localAddress matches the "local->" part of a connection's addresses in
// an error message ("read tcp 127.0.0.1:50123->127.0.0.1:8013: ..."): an
// IPv4 or bracketed IPv6 address, a port and "->".
var localAddress = regexp.MustCompile(`(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+(?:%[^\]]*)?\]):\d+->`)

// OutageKey is what tells the errors of two failed attempts apart, for a
// source that reports an outage again only when its failure changes: the
// message, without the local address of a connection. The local port is
// new with every connection, so that a server resetting every connection
// would otherwise look like a new failure each time. It works on the
// message, not on a *net.OpError, because some errors carry only its text
// (a gRPC status).
func OutageKey(err error) string {
	return localAddress.ReplaceAllString(err.Error(), "")
}
