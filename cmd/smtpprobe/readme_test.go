package main

import (
	"flag"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestReadme: README's exit-code table has one row for each exit code, in
// order, and its flag table names every flag of the command.
func TestReadme(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	var rows []int
	for _, m := range regexp.MustCompile(`(?m)^\| (\d+) \| `).FindAllStringSubmatch(readme, -1) {
		n, _ := strconv.Atoi(m[1])
		rows = append(rows, n)
	}
	var codes []int
	for _, e := range exitCodes {
		codes = append(codes, e.code)
	}
	if joinInts(rows) != joinInts(codes) {
		t.Errorf("README's exit codes %v, the command's %v", rows, codes)
	}
	start := strings.Index(readme, "| Group | Flags |")
	end := strings.Index(readme[max(start, 0):], "\n\n")
	if start < 0 || end < 0 {
		t.Fatal("README has no flag table")
	}
	table := readme[start : start+end]
	var c config
	newFlagSet(&c).VisitAll(func(f *flag.Flag) {
		if !regexp.MustCompile("`-" + regexp.QuoteMeta(f.Name) + "[` ]").MatchString(table) {
			t.Errorf("README's flag table lacks -%s", f.Name)
		}
	})
}

func joinInts(ns []int) string {
	var s []string
	for _, n := range ns {
		s = append(s, strconv.Itoa(n))
	}
	return strings.Join(s, " ")
}
