// Package ssetest reads an event stream the way a browser's EventSource does (the WHATWG
// parsing rules: CRLF, a lone CR and a lone LF all end a line), so tests see exactly the
// fields a browser would, including any a hostile text managed to start.
package ssetest

import (
	"bufio"
	"io"
	"strings"
)

// Field is one "name: value" line.
type Field struct{ Name, Value string }

// Block is what came between two blank lines: its fields in order and its comments.
type Block struct {
	Fields   []Field
	Comments []string
}

// ID is the block's last id field ("" when none).
func (b Block) ID() string { return b.last("id") }

// Name is the block's event type ("" when none: a browser calls it "message").
func (b Block) Name() string { return b.last("event") }

// Data is the block's data lines joined with LF, as a browser hands them to the page.
func (b Block) Data() string {
	var lines []string
	for _, f := range b.Fields {
		if f.Name == "data" {
			lines = append(lines, f.Value)
		}
	}
	return strings.Join(lines, "\n")
}

// Names lists the names of the block's fields, in order.
func (b Block) Names() []string {
	out := make([]string, len(b.Fields))
	for i, f := range b.Fields {
		out[i] = f.Name
	}
	return out
}

func (b Block) last(name string) string {
	v := ""
	for _, f := range b.Fields {
		if f.Name == name {
			v = f.Value
		}
	}
	return v
}

// Reader reads blocks from a stream.
type Reader struct{ r *bufio.Reader }

// NewReader reads from r.
func NewReader(r io.Reader) *Reader { return &Reader{r: bufio.NewReader(r)} }

// Next returns the next block that has a field or a comment; io.EOF when the stream ended.
func (r *Reader) Next() (Block, error) {
	var b Block
	for {
		line, err := r.line()
		if err != nil {
			return b, err
		}
		switch {
		case line == "":
			if len(b.Fields) > 0 || len(b.Comments) > 0 {
				return b, nil
			}
		case strings.HasPrefix(line, ":"):
			b.Comments = append(b.Comments, strings.TrimPrefix(line[1:], " "))
		default:
			name, value, _ := strings.Cut(line, ":")
			b.Fields = append(b.Fields, Field{Name: name, Value: strings.TrimPrefix(value, " ")})
		}
	}
}

// line reads up to a CRLF, CR or LF, which it drops.
func (r *Reader) line() (string, error) {
	var sb strings.Builder
	for {
		c, err := r.r.ReadByte()
		if err != nil {
			return "", err
		}
		switch c {
		case '\n':
			return sb.String(), nil
		case '\r':
			if next, err := r.r.Peek(1); err == nil && next[0] == '\n' {
				_, _ = r.r.ReadByte()
			}
			return sb.String(), nil
		}
		sb.WriteByte(c)
	}
}
