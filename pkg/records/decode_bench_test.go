package records

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

const benchRecords = 1_000_000

// benchTags are the tags of the generated inputs: most inputs repeat a few.
var benchTags = []string{"vip", "new_user", "churned", "beta", "region_cn", "region_sg", "android", "ios", "web", "promo2024"}

// benchInputs generates, once, 1,000,000 records in each format.
var benchInputs = sync.OnceValue(func() map[string][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var csv, jsonl, doc bytes.Buffer
	doc.WriteString(`{"UserTags":[`)
	tags := make([]string, 0, 3)
	for i := range benchRecords {
		tags = tags[:0]
		for range 1 + rng.IntN(3) {
			tags = append(tags, benchTags[rng.IntN(len(benchTags))])
		}
		acct := fmt.Sprintf("user%07d", rng.IntN(10_000_000))
		fmt.Fprintf(&csv, "%s", acct)
		fmt.Fprintf(&jsonl, `{"To_Account":%q,"Tags":[`, acct)
		if i > 0 {
			doc.WriteByte(',')
		}
		fmt.Fprintf(&doc, "\n"+`{"To_Account":%q,"Tags":[`, acct)
		for j, t := range tags {
			fmt.Fprintf(&csv, ",%s", t)
			sep := ","
			if j == 0 {
				sep = ""
			}
			fmt.Fprintf(&jsonl, "%s%q", sep, t)
			fmt.Fprintf(&doc, "%s%q", sep, t)
		}
		csv.WriteByte('\n')
		jsonl.WriteString("]}\n")
		doc.WriteString("]}")
	}
	doc.WriteString("\n]}\n")
	inputs := map[string][]byte{"csv": csv.Bytes(), "jsonl": jsonl.Bytes(), "json": doc.Bytes()}
	for name, data := range maps.Clone(inputs) {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(data)
		zw.Close()
		inputs[name+".gz"] = z.Bytes()
	}
	return inputs
})

// BenchmarkSkipGzip measures how fast a continuation reads a gzip file past the
// records done (gzip cannot be seeked): every record of the generated input is
// skipped. Metric: records/s.
func BenchmarkSkipGzip(b *testing.B) {
	for _, f := range []Format{FormatCSV, FormatJSONL, FormatJSON} {
		b.Run(f.String(), func(b *testing.B) {
			data := benchInputs()[f.String()+".gz"]
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				dec, err := NewDecoder(bytes.NewReader(data), DecoderOptions{Format: f, SkipRecords: benchRecords})
				if err != nil {
					b.Fatal(err)
				}
				if err := dec.SkipNow(); err != nil {
					b.Fatal(err)
				}
				if _, err := dec.Next(); err != io.EOF {
					b.Fatalf("after the skip: %v, want the end", err)
				}
			}
			b.ReportMetric(float64(benchRecords)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

func BenchmarkDecodeCSV1M(b *testing.B)     { benchmarkDecode(b, "csv", FormatCSV) }
func BenchmarkDecodeCSV1MGzip(b *testing.B) { benchmarkDecode(b, "csv.gz", FormatCSV) }
func BenchmarkDecodeJSONL1M(b *testing.B)   { benchmarkDecode(b, "jsonl", FormatJSONL) }
func BenchmarkDecodeJSON1M(b *testing.B)    { benchmarkDecode(b, "json", FormatJSON) }

// benchmarkDecode decodes the generated input named name, all of it, per iteration,
// and reports records per second and bytes and allocations per record.
func benchmarkDecode(b *testing.B, name string, format Format) {
	data := benchInputs()[name]
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for b.Loop() {
		dec, err := NewDecoder(bytes.NewReader(data), DecoderOptions{Format: format})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			_, err := dec.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != benchRecords {
			b.Fatalf("decoded %d records, want %d", n, benchRecords)
		}
	}
	runtime.ReadMemStats(&after)
	records := float64(b.N) * benchRecords
	b.ReportMetric(records/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/records, "B/record")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/records, "allocs/record")
}

// BenchmarkCheck measures a validation pass (Check) over each generated
// input of a million records: how a file job's validate phase reads its file
// (CSV through Decoder.SkipValid, the rest through Next). Metrics: records/s
// and the process's CPU time per record (user and system, from rusage: what a
// function's CPU share pays, less moved by a busy machine than the time).
func BenchmarkCheck(b *testing.B) {
	for _, name := range []string{"csv", "csv.gz", "jsonl", "json.gz"} {
		b.Run(name, func(b *testing.B) {
			format, _, err := FormatOf("input." + name)
			if err != nil {
				b.Fatal(err)
			}
			data := benchInputs()[name]
			b.SetBytes(int64(len(data)))
			cpu0 := processCPU(b)
			for b.Loop() {
				dec, err := NewDecoder(bytes.NewReader(data), DecoderOptions{Format: format})
				if err != nil {
					b.Fatal(err)
				}
				if n, err := Check(dec); n != benchRecords || err != nil {
					b.Fatalf("Check: %d records, %v; want %d and no error", n, err, benchRecords)
				}
			}
			records := float64(b.N) * benchRecords
			b.ReportMetric(records/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64((processCPU(b)-cpu0).Nanoseconds())/records, "cpu-ns/record")
		})
	}
}

// processCPU is the process's user and system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
