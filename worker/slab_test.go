package worker

import "testing"

// Buffers from a slab never overlap, cannot grow into each other, and a large one is its own.
func TestSlab(t *testing.T) {
	var s slab
	var bufs [][]byte
	for i, n := range []int{10, 0, 300, slabBlock / 4, 7, slabBlock/4 + 1, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000} {
		b := s.take(n)
		if len(b) != n || cap(b) != n {
			t.Fatalf("take(%d): len %d cap %d", n, len(b), cap(b))
		}
		for j := range b {
			b[j] = byte(i)
		}
		bufs = append(bufs, b)
	}
	for i, b := range bufs {
		for _, c := range b {
			if c != byte(i) {
				t.Fatalf("buffer %d was overwritten by another", i)
			}
		}
	}
}
