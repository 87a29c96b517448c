package local

import (
	"errors"
	"net"
	"sync"
	"time"
)

// sharedListener keeps a task's socket open across worker restarts, so the worker's address
// never changes while the task runs. One goroutine accepts on the socket and hands connections
// to whichever run is current; connections that arrive between runs wait for the next one.
type sharedListener struct {
	ln    net.Listener
	conns chan net.Conn
	done  chan struct{}
	wg    sync.WaitGroup
}

func newSharedListener(ln net.Listener) *sharedListener {
	s := &sharedListener{ln: ln, conns: make(chan net.Conn), done: make(chan struct{})}
	s.wg.Add(1)
	go s.acceptLoop()
	return s
}

func (s *sharedListener) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: pause as net/http does, then retry.
			select {
			case <-s.done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		select {
		case s.conns <- c:
		case <-s.done:
			c.Close()
			return
		}
	}
}

// close closes the socket and waits for the accept goroutine.
func (s *sharedListener) close() {
	close(s.done)
	s.ln.Close()
	s.wg.Wait()
}

// forRun returns the listener one run of the worker serves on.
func (s *sharedListener) forRun() *runListener {
	return &runListener{shared: s, closed: make(chan struct{})}
}

// runListener is the net.Listener a RunFunc gets. Closing it ends only this run's Accept
// calls; the socket stays open for the next run.
type runListener struct {
	shared *sharedListener
	closed chan struct{}
	once   sync.Once
}

// Accept waits for the next connection to the task's address.
func (r *runListener) Accept() (net.Conn, error) {
	select {
	case <-r.closed:
		return nil, net.ErrClosed
	default:
	}
	select {
	case c := <-r.shared.conns:
		return c, nil
	case <-r.closed:
		return nil, net.ErrClosed
	case <-r.shared.done:
		return nil, net.ErrClosed
	}
}

// Close ends this run's Accept calls. It is safe to call more than once.
func (r *runListener) Close() error {
	r.once.Do(func() { close(r.closed) })
	return nil
}

// Addr is the task's address, the same for every run.
func (r *runListener) Addr() net.Addr { return r.shared.ln.Addr() }
