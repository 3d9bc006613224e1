package imapi_test

import (
	"context"
	"fmt"

	"github.com/removetag/removetag/pkg/imapi"
	"github.com/removetag/removetag/pkg/imapi/emulator"
	"github.com/removetag/removetag/pkg/records"
)

// Remove the tags of any number of accounts: make a client, hand the records to an
// engine, read the report. Here the client talks to the emulator; in production,
// give it the app's SDKAppID, key and region instead of BaseURL.
func Example() {
	emu := emulator.NewServer(emulator.Config{})
	defer emu.Close()
	emu.Seed([]records.Record{{Account: "alice", Tags: []string{"vip", "trial"}}, {Account: "bob", Tags: []string{"trial"}}})
	cfg := emu.Config()

	client, err := imapi.NewClient(imapi.Config{SDKAppID: cfg.SDKAppID, SecretKey: cfg.Key, BaseURL: emu.URL()})
	if err != nil {
		panic(err)
	}
	records := records.NewSliceSource([]records.Record{
		{Account: "alice", Tags: []string{"trial"}},
		{Account: "bob", Tags: []string{"trial"}},
	})
	report, err := imapi.NewEngine(client, imapi.EngineConfig{}).Run(context.Background(), records)
	if err != nil {
		panic(err)
	}

	fmt.Println(report.Total, report.Succeeded, report.Failed, report.Pending, report.Calls)
	fmt.Println(emu.Tags("alice"), emu.Tags("bob"))
	// Output:
	// 2 2 0 0 1
	// [vip] []
}
