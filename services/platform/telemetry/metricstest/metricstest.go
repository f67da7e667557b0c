// Package metricstest reads a service's /metrics as Prometheus reads it, for tests that
// assert what a known load did to the counters: scrape before, run the load, scrape after,
// and compare.
package metricstest

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// Snapshot is one scrape: the metric families by name.
type Snapshot map[string]*dto.MetricFamily

// Scrape GETs url (a /metrics endpoint), requires 200 and parses the text exposition format.
func Scrape(t testing.TB, url string) Snapshot {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s", url)
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	require.NoError(t, err, "GET %s: not the Prometheus text format", url)
	return families
}

// Value is the sum over the series of the named metric whose labels include labels (name,
// value pairs); 0 when there is none, as for a counter not yet incremented. A counter is
// named with its _total suffix; a histogram's count and sum are asked for as name_count and
// name_sum.
func (s Snapshot) Value(name string, labels ...string) float64 {
	family, part := s.family(name)
	if family == nil {
		return 0
	}
	var sum float64
	for _, m := range family.GetMetric() {
		if !matches(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		case m.Histogram != nil && part == "_count":
			sum += float64(m.Histogram.GetSampleCount())
		case m.Histogram != nil && part == "_sum":
			sum += m.Histogram.GetSampleSum()
		}
	}
	return sum
}

// Series returns the label sets of the named metric's series (a histogram by its own name).
func (s Snapshot) Series(name string) []map[string]string {
	family, _ := s.family(name)
	var out []map[string]string
	for _, m := range family.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		out = append(out, labels)
	}
	return out
}

// Names lists the metric families, sorted.
func (s Snapshot) Names() []string {
	var names []string
	for name := range s {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// String lists the families, for a failure message.
func (s Snapshot) String() string { return fmt.Sprint(s.Names()) }

func (s Snapshot) family(name string) (*dto.MetricFamily, string) {
	if f, ok := s[name]; ok {
		return f, ""
	}
	for _, part := range []string{"_count", "_sum"} {
		if base, ok := strings.CutSuffix(name, part); ok {
			if f, ok := s[base]; ok && f.GetType() == dto.MetricType_HISTOGRAM {
				return f, part
			}
		}
	}
	return nil, ""
}

func matches(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
