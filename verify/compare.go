package verify

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"strings"
)

// keyHead is what verify reads of a dts message key.
type keyHead struct {
	Database string          `json:"database"`
	Table    string          `json:"table"`
	PK       json.RawMessage `json:"pk"`
}

// rowOf reads the row a dts message value carries: its data in a canonical form (keys sorted,
// numbers as written), or deleted for a delete (and a tombstone). ok is false for messages that
// carry no row (DDL, markers).
func rowOf(value []byte) (data []byte, deleted, ok bool) {
	if value == nil {
		return nil, true, true
	}
	d := json.NewDecoder(bytes.NewReader(value))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, false, false
	}
	if op, flat := m["__op"].(string); flat {
		switch op {
		case "d":
			return nil, true, true
		case "c", "u", "r":
		default:
			return nil, false, false
		}
		row := map[string]any{}
		for k, v := range m {
			if !strings.HasPrefix(k, "__") {
				row[k] = v
			}
		}
		return canonical(row), false, true
	}
	switch m["type"] {
	case "delete":
		return nil, true, true
	case "insert", "update", "snapshot":
		row, _ := m["data"].(map[string]any)
		return canonical(row), false, true
	}
	return nil, false, false
}

// canonical writes a row with its keys sorted, as encoding/json writes maps.
func canonical(row map[string]any) []byte {
	b, err := json.Marshal(row)
	if err != nil {
		return nil
	}
	return b
}

// hash64 is 64-bit FNV-1a of b.
func hash64(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// mix combines a key's and its row's hashes for a chunk checksum: the XOR of every mix of a
// chunk does not depend on the order rows are met in.
func mix(key string, data uint64) uint64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	var b [8]byte
	for i := range b {
		b[i] = byte(data >> (8 * i))
	}
	h.Write(b[:])
	return h.Sum64()
}
