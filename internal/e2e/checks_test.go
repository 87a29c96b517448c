package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/dtsrepl/dts/api"
	"github.com/dtsrepl/dts/internal/testenv"
)

// withoutTS decodes a message value and drops its top-level "ts": the time a row was read, which
// a preview and a copy made at different times cannot share.
func withoutTS(t *testing.T, b []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("value %s: %v", b, err)
	}
	delete(m, "ts")
	return m
}

// TestChecksCLI runs `dts dev` and the dts task client through a task's life: its precheck, its
// preview (which must be what the worker then sends, record for record), its history, and a
// consistency check that finds a record deleted from Kafka and a row changed with the binlog off
// for its session.
func TestChecksCLI(t *testing.T) {
	t.Parallel()
	db := testenv.StartMariaDB(t)
	seedDB(t, db)
	insertRows(t, db, 1, 6)
	kafka := testenv.StartKafka(t, 3)
	admin, err := sarama.NewClusterAdmin(kafka.Addrs, testenv.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.CreateTopic("checks", &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	dir := t.TempDir()
	srv := startServer(t, "dts-dev", dir, childEnv(), "dev", "--data-dir", filepath.Join(dir, "dts-data"))
	bin := testenv.Build(t, "./cmd/dts")
	cli := func(args ...string) (string, error) {
		cmd := exec.Command(bin, append([]string{"task"}, args...)...)
		cmd.Env = childEnv("DTS_ADDR="+srv.URL, "DTS_AUTH_USER="+seedAPIUser, "DTS_AUTH_PASSWORD="+seedAPIPass)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if stderr.Len() > 0 {
			t.Logf("dts task %s stderr: %s", strings.Join(args, " "), stderr.String())
		}
		return stdout.String(), err
	}
	body := strings.Replace(seedSubmitBody(db.Port, kafka.Addr(), "checks"), `"incr":true`, `"incr":false`, 1)
	body = strings.Replace(body, `"flat_format":false`, `"flat_format":false,"partition_mode":"primary_key"`, 1)
	taskFile := filepath.Join(dir, "task.json")
	if err := os.WriteFile(taskFile, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}

	// Precheck: a table for people; nothing blocks.
	out, err := cli("precheck", "-f", taskFile)
	if err != nil || !strings.Contains(out, "source.binlog_row_image") || !strings.Contains(out, "oa_data_service.check_delay") || !strings.Contains(out, "result: ") {
		t.Fatalf("dts task precheck: %v:\n%s", err, out)
	}
	t.Logf("dts task precheck:\n%s", out)
	noSecret(t, "dts task precheck", seedDBPassword, out)
	// A filter on a column the tables lack: the precheck says so, and submit refuses it.
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(strings.Replace(body, `"match":"check_delay","filter":""`, `"match":"check_delay","filter":"colour = 1"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := cli("precheck", "-f", bad); err == nil || !strings.Contains(out, "tables.filter_columns") {
		t.Errorf("dts task precheck of a bad filter: %v:\n%s", err, out)
	}
	if out, err := cli("submit", "-f", bad); err == nil || strings.Contains(out, "submitted") {
		t.Errorf("dts task submit of a bad filter: %v:\n%s", err, out)
	}

	// Preview, then the task itself: the worker's copy sends exactly the previewed records.
	out, err = cli("preview", "-f", taskFile, "--rows", "3", "--json")
	if err != nil {
		t.Fatalf("dts task preview: %v: %s", err, out)
	}
	var p api.Preview
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("preview JSON: %v: %s", err, out)
	}
	if len(p.Tables) != 3 {
		t.Fatalf("preview of %d tables, want 3: %s", len(p.Tables), out)
	}
	if out, err := cli("preview", "-f", taskFile, "--rows", "2"); err != nil || !strings.Contains(out, "send") || !strings.Contains(out, "xes_class_students_1: 2 rows read") {
		t.Errorf("dts task preview table: %v:\n%s", err, out)
	}
	out, err = cli("submit", "-f", taskFile)
	if err != nil || !strings.Contains(out, "submitted task 1") {
		t.Fatalf("dts task submit: %v: %s", err, out)
	}
	recs := kafka.WaitRecords(t, "checks", 15, 90*time.Second)
	sent := map[string]testenv.Record{}
	for _, r := range recs {
		sent[string(r.Key)] = r
	}
	n := 0
	for _, tb := range p.Tables {
		if tb.RowsRead != 3 || len(tb.Records) != 3 {
			t.Errorf("preview of %s.%s: %+v", tb.DB, tb.Table, tb)
		}
		for _, pr := range tb.Records {
			n++
			var key bytes.Buffer
			if err := json.Compact(&key, pr.Key); err != nil {
				t.Fatal(err)
			}
			pr.Key = key.Bytes()
			r, ok := sent[string(pr.Key)]
			switch {
			case !ok:
				t.Errorf("previewed key %s was not sent", pr.Key)
			case pr.Topic != r.Topic || pr.Partition == nil || *pr.Partition != r.Partition:
				t.Errorf("key %s: previewed %s/%v, sent to %s/%d", pr.Key, pr.Topic, pr.Partition, r.Topic, r.Partition)
			default:
				pv, sv := withoutTS(t, pr.Value), withoutTS(t, r.Value)
				pb, _ := json.Marshal(pv)
				sb, _ := json.Marshal(sv)
				if !bytes.Equal(pb, sb) {
					t.Errorf("key %s: previewed value %s, sent %s", pr.Key, pb, sb)
				}
			}
		}
	}
	if n != 9 {
		t.Errorf("%d previewed records, want 9", n)
	}

	// History in dts task get.
	var rec recorder
	rec.waitState(t, srv.URL, 1, api.StateRunning, 90*time.Second)
	out, err = cli("get", "1")
	if err != nil || !strings.Contains(out, "history:") || !strings.Contains(out, "submit") {
		t.Errorf("dts task get: %v:\n%s", err, out)
	}
	// Per-table statistics in dts task get, as the worker counted them: the copy sent the 5 rows
	// of each matched table.
	copied := regexp.MustCompile(`(?m)^  oa_data_service\.xes_class_students_1 +0 +0 +0 +0 +5 +0 +[1-9][0-9]*$`)
	eventually(t, 30*time.Second, "per-table statistics in dts task get", func() error {
		out, err := cli("get", "1")
		if err != nil || !copied.MatchString(out) || !strings.Contains(out, "retention headroom") {
			return fmt.Errorf("%v:\n%s", err, out)
		}
		return nil
	})

	// A consistent task verifies clean.
	out, err = cli("verify", "1", "--wait")
	if err != nil || !strings.Contains(out, "consistent: true") {
		t.Fatalf("dts task verify of a consistent task: %v:\n%s", err, out)
	}
	t.Logf("dts task verify:\n%s", out)

	// A record deleted from Kafka (a tombstone, what a consumer sees after compaction) and a row
	// changed with the binlog off for that session.
	gone := `{"database":"oa_data_service","table":"xes_class_students_1","pk":{"id":2}}`
	pcfg := testenv.SaramaConfig()
	pcfg.Producer.Partitioner = sarama.NewManualPartitioner
	prod, err := sarama.NewSyncProducer(kafka.Addrs, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "checks", Key: sarama.StringEncoder(gone), Partition: sent[gone].Partition}); err != nil {
		t.Fatal(err)
	}
	prod.Close()
	c := db.Conn(t)
	for _, q := range []string{"SET sql_log_bin = 0", "UPDATE oa_data_service.xes_class_students_2 SET name = 'changed quietly' WHERE id = 4", "SET sql_log_bin = 1"} {
		if _, err := c.Execute(q); err != nil {
			t.Fatal(err)
		}
	}
	out, err = cli("verify", "1", "--tables", "oa_data_service.xes_class_students_1,oa_data_service.xes_class_students_2", "--rate", "500", "--wait", "--json")
	if err == nil {
		t.Errorf("dts task verify of a damaged topic succeeded:\n%s", out)
	}
	var v api.Verify
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("verify JSON: %v: %s", err, out)
	}
	if v.State != api.VerifyDone || v.Consistent || len(v.Tables) != 2 {
		t.Fatalf("verify %s", out)
	}
	s1, s2 := v.Tables[0], v.Tables[1]
	if s1.Missing != 1 || s1.Differing != 0 || s1.Matching != 4 || s2.Differing != 1 || s2.Missing != 0 || s2.Matching != 4 || s1.Extra+s2.Extra != 0 ||
		s1.KafkaKeys != 4 || s1.Rechecked+s2.Rechecked != 2 {
		t.Errorf("verify tables %+v %+v", s1, s2)
	}
	if len(s2.Samples) != 1 || !strings.Contains(string(s2.Samples[0].Source), "changed quietly") || !strings.Contains(string(s2.Samples[0].Kafka), "student 4") {
		t.Errorf("differing sample %+v", s2.Samples)
	}
	out, err = cli("verify", "1", "--status")
	if err == nil || !strings.Contains(out, "MISSING") || !strings.Contains(out, "changed quietly") {
		t.Errorf("dts task verify --status: %v:\n%s", err, out)
	}
	t.Logf("dts task verify --status:\n%s", out)
	noSecret(t, "dts task verify", seedDBPassword, out)
}
