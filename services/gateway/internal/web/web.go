// Package web holds the gateway's templates and static files, embedded in the binary. The
// templates are parsed once at start-up, so a broken template stops the gateway before it
// serves anything.
package web

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Static is the tree served under /static/.
func Static() fs.FS {
	sub, _ := fs.Sub(staticFiles, "static")
	return sub
}

// Pages are the parsed templates: each page is the layout plus that page's file.
type Pages struct{ pages map[string]*template.Template }

var funcs = template.FuncMap{
	"when":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"upper":   strings.ToUpper,
	"add":     func(a, b int) int { return a + b },
	"percent": func(f float64) string { return fmt.Sprintf("%.0f%%", f*100) },
	"shortID": func(id string) string {
		if len(id) > 8 {
			return id[:8]
		}
		return id
	},
	"list": func(v ...string) []string { return v },
	"deref": func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	},
}

// Parse parses every page with the layout and the partials.
func Parse() (*Pages, error) {
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	var shared []string
	var pages []string
	for _, n := range names {
		if strings.HasPrefix(n, "templates/_") {
			shared = append(shared, n)
		} else {
			pages = append(pages, n)
		}
	}
	p := &Pages{pages: map[string]*template.Template{}}
	for _, page := range pages {
		t, err := template.New("").Funcs(funcs).ParseFS(templateFiles, append(shared, page)...)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", page, err)
		}
		p.pages[strings.TrimSuffix(strings.TrimPrefix(page, "templates/"), ".html")] = t
	}
	return p, nil
}

// Render writes page (its "layout" template, or block when not empty) with data.
func (p *Pages) Render(w io.Writer, page, block string, data any) error {
	t, ok := p.pages[page]
	if !ok {
		return fmt.Errorf("no page %q", page)
	}
	if block == "" {
		block = "layout"
	}
	return t.ExecuteTemplate(w, block, data)
}
