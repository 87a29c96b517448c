package worker

// slabBlock is the size of the blocks slab carves message buffers from: the largest the Go
// allocator serves from its size classes (a larger one takes its slow path, zeroing and all).
const slabBlock = 32 << 10

// slab hands out the buffers of the messages sent to Kafka, carved from 32 KiB blocks: one
// allocation per block instead of one per message. A block is freed once every message in it
// has been acknowledged and dropped; as Kafka acknowledges in order, blocks go in order too. A
// buffer of more than a quarter of a block gets its own allocation, so a block never holds
// less than three quarters of its size in messages.
type slab struct{ block []byte }

// take returns a buffer of n bytes that nothing else uses.
func (s *slab) take(n int) []byte {
	if n > slabBlock/4 {
		return make([]byte, n)
	}
	if len(s.block) < n {
		s.block = make([]byte, slabBlock)
	}
	b := s.block[:n:n]
	s.block = s.block[n:]
	return b
}
