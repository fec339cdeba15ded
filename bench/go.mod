module github.com/smtpprobe/probe/bench

go 1.26.0

require (
	github.com/emersion/go-sasl v0.0.0-20241020182733-b788ff22d5a6
	github.com/emersion/go-smtp v0.25.1
	github.com/smtpprobe/probe v0.0.0
)

require golang.org/x/net v0.62.0 // indirect

replace github.com/smtpprobe/probe => ../
