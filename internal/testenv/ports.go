package testenv

import "net"

// FreePorts returns n distinct ports that were free on 127.0.0.1 a moment
// ago: all n listeners are held open until every port is chosen, so the
// ports differ, and then closed for the caller's servers to take.
func FreePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
