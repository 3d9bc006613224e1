package main

// BenchmarkPlan: `removetag plan` on a file of REMOVETAG_PLAN_RECORDS distinct
// accounts (default 20,000), the built binary against the IM emulator of the
// test process (20-30 ms a call), each account holding two of its three
// listed tags. It reports how close the reads come to the get API's ceiling,
// 100 calls/s of 100 accounts (ceiling-ratio: records read per second over
// 10,000), and the plan's peak memory (max-rss-MiB, the child process's own
// peak, VmHWM: the emulator's store is in the benchmark's), which does not
// grow with the file. A million records take about 100 s:
//
//	REMOVETAG_PLAN_RECORDS=1000000 go test -run '^$' -bench 'Plan$' -benchtime 1x ./cmd/removetag/

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/removetag/removetag/pkg/imapi/emulator"
)

func BenchmarkPlan(b *testing.B) {
	n := 20_000
	if s := os.Getenv("REMOVETAG_PLAN_RECORDS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			b.Fatalf("REMOVETAG_PLAN_RECORDS=%q: want a positive number of records", s)
		}
	}
	bin := binary(b)
	emu := emulator.NewServer(emulator.Config{Latency: 20 * time.Millisecond, Jitter: 10 * time.Millisecond})
	defer emu.Close()
	dir := b.TempDir()
	path := filepath.Join(dir, "accounts.csv")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	seedListed(emu, "plan-", n, w)
	if err := w.Flush(); err != nil || f.Close() != nil {
		b.Fatal(err)
	}
	c := emu.Config()
	for b.Loop() {
		cmd := exec.Command(bin, "plan", "--json", path)
		cmd.Dir = dir
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TMPDIR=" + dir,
			"IM_SDKAPPID=" + fmt.Sprint(c.SDKAppID), "IM_SECRET_KEY=" + c.Key, "IM_ENDPOINT=" + emu.URL()}
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		peak := watchPeak(cmd.Process.Pid)
		if err := cmd.Wait(); err != nil {
			b.Fatalf("plan: %v\n%.2000s", err, out.String())
		}
		rss := <-peak
		var rep planReport
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			b.Fatal(err)
		}
		if rep.Read != int64(n) || rep.Changed != int64(n) || rep.TagsRemoved != int64(2*n) {
			b.Fatalf("read %d, changed %d, tags removed %d of %d records", rep.Read, rep.Changed, rep.TagsRemoved, n)
		}
		b.ReportMetric(rep.ReadCeiling, "ceiling-ratio")
		b.ReportMetric(rss, "max-rss-MiB")
		b.ReportMetric(float64(rep.ReadCalls), "get-calls")
		b.ReportMetric(rep.ElapsedSeconds, "s/plan")
	}
	if st := emu.Stats(); st.Applied != 0 {
		b.Errorf("%d removals applied by a plan", st.Applied)
	}
}

// watchPeak samples the peak resident memory of process pid (VmHWM of
// /proc/pid/status: its own since its exec, unlike the rusage of a child,
// which holds the parent's pages until the exec) until it ends, and sends the
// last value read, in MiB.
func watchPeak(pid int) <-chan float64 {
	peak := make(chan float64, 1)
	go func() {
		var last float64
		for {
			data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				peak <- last
				return
			}
			for _, line := range strings.Split(string(data), "\n") {
				if kb, ok := strings.CutPrefix(line, "VmHWM:"); ok {
					if n, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(kb), "kB")), 64); err == nil {
						last = n / 1024
					}
				}
			}
			if strings.Contains(string(data), "State:\tZ") {
				peak <- last
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return peak
}
