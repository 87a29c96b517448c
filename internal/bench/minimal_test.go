//go:build bench

package bench

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/dtsrepl/dts/internal/testenv"
)

// minimalPipeline is the baseline a CDC tool must beat: decode, a hand-written JSON value per
// row, and an idempotent acks=all lz4 sarama producer in 2,000-message batches, with no
// filtering, no checkpoints and no bound on memory. It runs in the test process, whose CPU
// time and peak RSS over the phase are the pipeline's.
func minimalPipeline(t *testing.T, db *testenv.MariaDB, kafka *testenv.Kafka, s shape, servers ...int) figures {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_1_0_0
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Compression = sarama.CompressionLZ4
	cfg.Producer.Flush.Messages = 2000
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	cfg.Producer.Return.Successes = true
	cfg.ChannelBufferSize = 4096
	syncer := newSyncer(db, 9002)
	defer syncer.Close()
	m := startSelf(t, servers...)
	p, err := sarama.NewAsyncProducer(kafka.Addrs, cfg)
	if err != nil {
		t.Fatalf("minimal pipeline producer: %v", err)
	}
	acked := make(chan struct{})
	go func() {
		n := 0
		for range p.Successes() {
			n++
			if n == s.rows {
				close(acked)
			}
		}
	}()
	go func() {
		for e := range p.Errors() {
			t.Errorf("minimal pipeline: %v", e)
		}
	}()
	st := startStream(t, syncer, s.start)
	rows := 0
	names := []string{"id", "user_id", "status", "amount", "note", "created"}
	for rows < s.rows {
		ev, err := st.GetEvent(context.Background())
		if err != nil {
			t.Fatalf("minimal pipeline: %v", err)
		}
		if rowChanges(ev, s.table) == 0 {
			continue
		}
		re := ev.Event.(*replication.RowsEvent)
		step := 1
		if re.Type() == replication.EnumRowsEventTypeUpdate {
			step = 2
		}
		for i := step - 1; i < len(re.Rows); i += step {
			row := re.Rows[i]
			b := make([]byte, 0, 256)
			b = append(b, `{"table":"orders","data":{`...)
			for j, v := range row {
				if j > 0 {
					b = append(b, ',')
				}
				b = append(b, '"')
				b = append(b, names[j]...)
				b = append(b, `":`...)
				switch x := v.(type) {
				case int64:
					b = strconv.AppendInt(b, x, 10)
				case int32:
					b = strconv.AppendInt(b, int64(x), 10)
				case int8:
					b = strconv.AppendInt(b, int64(x), 10)
				default:
					b = strconv.AppendQuote(b, fmt.Sprint(x))
				}
			}
			b = append(b, "}}"...)
			p.Input() <- &sarama.ProducerMessage{Topic: "minimal", Key: sarama.StringEncoder(fmt.Sprint(row[0])), Value: sarama.ByteEncoder(b)}
			rows++
		}
	}
	<-acked
	f := figures{phase: "minimal decode->JSON->sarama", shape: s.table, rows: rows}
	m.stop(t, &f)
	if err := p.Close(); err != nil {
		t.Errorf("close minimal pipeline producer: %v", err)
	}
	return f
}
