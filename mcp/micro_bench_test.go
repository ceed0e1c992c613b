package mcp

import "testing"

func BenchmarkParseMessage(b *testing.B) {
	body := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"progressToken":3}}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseMessage(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseAuthorization(b *testing.B) {
	h := []string{"Bearer eyJhbGciOiJFUzI1NiIsImtpZCI6IjEyMzQ1Njc4OTAxMiIsInR5cCI6ImF0K2p3dCJ9." +
		"eyJhdWQiOiJodHRwOi8vMTI3LjAuMC4xOjQzMjEvbWNwL2FjbWUvc2FsZXMtYXBpIiwiY2xpZW50X2lkIjoiY2xpZW50X2FiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6MDEyMzQ1IiwiZXhwIjoxNzY0MjQ0MDAwLCJpYXQiOjE3NjQyNDA0MDAsImlzcyI6Imh0dHA6Ly8xMjcuMC4wLjE6NDMyMSIsImp0aSI6ImFiY2RlZmdoaWprbG1ub3BxcnN0dXYiLCJzY29wZSI6Im1jcDp0b29sczpyZWFkIG1jcDp0b29sczpleGVjdXRlIG1jcDpyZXNvdXJjZXM6cmVhZCBtY3A6c2VydmVyOnJlYWQiLCJzdWIiOiJjbGllbnRfYWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXowMTIzNDUifQ." +
		"MEUCIQDxyzabcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyz"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseAuthorization(h); err != nil {
			b.Fatal(err)
		}
	}
}
