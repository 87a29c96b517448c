package verify

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/IBM/sarama"
)

// fetchMaxBytes bounds one fetch of one partition; a batch larger than that is fetched again
// with room for it, up to maxFetchBytes.
const (
	fetchMaxBytes = 4 << 20
	maxFetchBytes = 24 << 20
)

// visit receives one committed record of a partition, with its timestamp.
type visit func(part int32, off int64, ts time.Time, key, value []byte) error

// lastStable returns the offset up to which partition p of topic is decided: its last stable
// offset, which a read-committed consumer reads up to (records after it belong to open
// transactions).
func lastStable(client sarama.Client, topic string, p int32) (int64, error) {
	leader, err := client.Leader(topic, p)
	if err != nil {
		return 0, err
	}
	req := sarama.NewOffsetRequest(sarama.V2_1_0_0)
	req.IsolationLevel = sarama.ReadCommitted
	req.AddBlock(topic, p, sarama.OffsetNewest, 1)
	resp, err := leader.GetAvailableOffsets(req)
	if err != nil {
		return 0, err
	}
	b := resp.GetBlock(topic, p)
	if b == nil {
		return 0, sarama.ErrIncompleteResponse
	}
	if !errors.Is(b.Err, sarama.ErrNoError) {
		return 0, b.Err
	}
	if len(b.Offsets) > 0 {
		return b.Offsets[0], nil
	}
	return b.Offset, nil
}

// readPartition reads the committed records of partition p of topic from offset from (-1: its
// oldest) up to end, as a read-committed consumer sees them: aborted transactions and control
// records are skipped, by offset, so the read ends even when the last offsets are transaction
// markers. It returns the offset it read up to.
func readPartition(ctx context.Context, client sarama.Client, topic string, p int32, from, end int64, fn visit) (int64, error) {
	if from < 0 {
		oldest, err := client.GetOffset(topic, p, sarama.OffsetOldest)
		if err != nil {
			return 0, fmt.Errorf("oldest offset of %s/%d: %w", topic, p, err)
		}
		from = oldest
	}
	off := from
	maxBytes := int32(fetchMaxBytes)
	stuck := 0
	for off < end {
		if err := ctx.Err(); err != nil {
			return off, err
		}
		leader, err := client.Leader(topic, p)
		if err != nil {
			return off, fmt.Errorf("leader of %s/%d: %w", topic, p, err)
		}
		req := &sarama.FetchRequest{Version: 4, MaxWaitTime: 200, MinBytes: 1, MaxBytes: maxBytes, Isolation: sarama.ReadCommitted}
		req.AddBlock(topic, p, off, maxBytes, -1)
		resp, err := leader.Fetch(req)
		if err != nil {
			return off, fmt.Errorf("fetch %s/%d at %d: %w", topic, p, off, err)
		}
		block := resp.GetBlock(topic, p)
		if block == nil {
			return off, fmt.Errorf("fetch %s/%d at %d: %w", topic, p, off, sarama.ErrIncompleteResponse)
		}
		if errors.Is(block.Err, sarama.ErrOffsetOutOfRange) {
			// The log start moved past off (retention, DeleteRecords): read on from the new start.
			oldest, err := client.GetOffset(topic, p, sarama.OffsetOldest)
			if err != nil || oldest <= off {
				return off, fmt.Errorf("fetch %s/%d at %d: %w", topic, p, off, block.Err)
			}
			off = oldest
			continue
		}
		if !errors.Is(block.Err, sarama.ErrNoError) {
			return off, fmt.Errorf("fetch %s/%d at %d: %w", topic, p, off, block.Err)
		}
		next, err := visitBlock(block, off, end, p, fn)
		if err != nil {
			return off, err
		}
		if next > off {
			off, stuck, maxBytes = next, 0, fetchMaxBytes
			continue
		}
		// No whole batch: one larger than the fetch allowed, or nothing yet.
		stuck++
		if maxBytes < maxFetchBytes {
			maxBytes = min(maxBytes*2, maxFetchBytes)
		}
		if stuck > 20 {
			return off, fmt.Errorf("fetch %s/%d: no progress at offset %d of %d", topic, p, off, end)
		}
	}
	return off, nil
}

// visitBlock passes the committed records of one fetched block to fn and returns the offset
// after the last whole batch.
func visitBlock(block *sarama.FetchResponseBlock, off, end int64, p int32, fn visit) (int64, error) {
	aborted := slices.Clone(block.AbortedTransactions)
	slices.SortFunc(aborted, func(a, b *sarama.AbortedTransaction) int { return int(a.FirstOffset - b.FirstOffset) })
	abortedPIDs := map[int64]bool{}
	for _, recs := range block.RecordsSet {
		b := recs.RecordBatch
		if b == nil {
			if recs.MsgSet != nil {
				return off, errors.New("the broker answered with the pre-0.11 message format, which verify does not read")
			}
			continue
		}
		if b.PartialTrailingRecord && len(b.Records) == 0 {
			break
		}
		last := b.LastOffset()
		for len(aborted) > 0 && aborted[0].FirstOffset <= last {
			abortedPIDs[aborted[0].ProducerID] = true
			aborted = aborted[1:]
		}
		switch {
		case last < off:
			continue
		case b.Control:
			if len(b.Records) > 0 && len(b.Records[0].Key) >= 4 && binary.BigEndian.Uint16(b.Records[0].Key[2:4]) == 0 {
				delete(abortedPIDs, b.ProducerID) // the abort marker ends the aborted transaction
			}
		case b.IsTransactional && abortedPIDs[b.ProducerID]:
		default:
			for _, r := range b.Records {
				o := b.FirstOffset + r.OffsetDelta
				if o < off || o >= end {
					continue
				}
				ts := b.FirstTimestamp.Add(r.TimestampDelta)
				if b.LogAppendTime {
					ts = b.MaxTimestamp
				}
				if err := fn(p, o, ts, r.Key, r.Value); err != nil {
					return off, err
				}
			}
		}
		if b.PartialTrailingRecord {
			// Only part of the batch came: read on after its last whole record.
			if n := len(b.Records); n > 0 {
				off = max(off, b.FirstOffset+b.Records[n-1].OffsetDelta+1)
			}
			break
		}
		off = max(off, last+1)
	}
	return off, nil
}

// readOne returns the record at off in partition p, nil if there is none (compacted, deleted).
func readOne(ctx context.Context, client sarama.Client, topic string, p int32, off int64) ([]byte, bool, error) {
	var value []byte
	found := false
	_, err := readPartition(ctx, client, topic, p, off, off+1, func(_ int32, o int64, _ time.Time, _, v []byte) error {
		if o == off {
			value, found = slices.Clone(v), true
		}
		return nil
	})
	return value, found, err
}
