//go:build bench

package bench

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/dtsrepl/dts/internal/testenv"
)

// minimalPipeline is the baseline a CDC tool must beat: decode, a hand-written JSON value per
// row, and an idempotent acks=all lz4 sarama producer in 2,000-message batches, with no
// filtering, no checkpoints and no bound on memory.
func minimalPipeline(t *testing.T, db *testenv.MariaDB, kafka *testenv.Kafka, start string) result {
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
	p, err := sarama.NewAsyncProducer(kafka.Addrs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	acked := make(chan int)
	go func() {
		n := 0
		for range p.Successes() {
			n++
			if n == totalRows {
				acked <- n
			}
		}
	}()
	go func() {
		for e := range p.Errors() {
			t.Errorf("minimal pipeline: %v", e)
		}
	}()
	set, _ := mysql.ParseMariadbGTIDSet(start)
	s := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{ServerID: 9002, Flavor: mysql.MariaDBFlavor, Host: db.Host, Port: uint16(db.Port),
		User: db.User, Password: db.Password, TimestampStringLocation: time.UTC, Logger: slog.New(slog.DiscardHandler)})
	defer s.Close()
	t0 := time.Now()
	st, err := s.StartSyncGTID(set)
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	var bytes float64
	names := []string{"id", "user_id", "status", "amount", "note", "created"}
	for rows < totalRows {
		ev, err := st.GetEvent(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		re, ok := ev.Event.(*replication.RowsEvent)
		if !ok || string(re.Table.Schema) != "bench" {
			continue
		}
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
			bytes += float64(len(b))
			p.Input() <- &sarama.ProducerMessage{Topic: "minimal", Key: sarama.StringEncoder(fmt.Sprint(row[0])), Value: sarama.ByteEncoder(b)}
			rows++
		}
	}
	<-acked
	d := time.Since(t0)
	p.Close()
	return result{name: "minimal decode->JSON->sarama", rows: rows, dur: d, bytes: bytes, note: "no filters/checkpoints, unbounded memory"}
}
