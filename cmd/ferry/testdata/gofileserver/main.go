// Command gofileserver serves a directory on /files/ with net/http's own
// http.FileServer and nothing else: BenchmarkSmallFileGets (smallbench_test.go)
// runs it beside ferry and nginx to show what a Go server built on net/http
// reaches on the same machine, in the same run.
//
//	gofileserver ADDR DIR
package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: gofileserver ADDR DIR")
		os.Exit(2)
	}
	mux := http.NewServeMux()
	mux.Handle("/files/", http.StripPrefix("/files/", http.FileServer(http.Dir(os.Args[2]))))
	mux.HandleFunc("/healthz", func(http.ResponseWriter, *http.Request) {})
	if err := http.ListenAndServe(os.Args[1], mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
