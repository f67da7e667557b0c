module github.com/caasdemo/orderdemo/events

go 1.26
