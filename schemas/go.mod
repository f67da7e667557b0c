module github.com/caasdemo/orderdemo/schemas

go 1.26

require (
	github.com/caasdemo/orderdemo/events v0.0.0
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.3
)

require golang.org/x/text v0.14.0 // indirect

replace github.com/caasdemo/orderdemo/events => ../events
