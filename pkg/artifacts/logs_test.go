package artifacts_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/artifacts"
	"github.com/kitaru/deployments/pkg/blob/localblob"
	"github.com/kitaru/deployments/pkg/registry"
)

func newLogStore(t *testing.T) *artifacts.Store {
	t.Helper()
	srv, err := localblob.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &artifacts.Store{Blobs: srv.Store()}
}

func putChunk(t *testing.T, s *artifacts.Store, seq int, data []byte) {
	t.Helper()
	if err := s.Blobs.Put(context.Background(), artifacts.LogKey("p", "ex_1", seq), bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
}

func TestReadLog(t *testing.T) {
	ctx := context.Background()
	const C = artifacts.LogChunkBytes
	// A full first chunk whose last two bytes begin "€" (3 bytes), finished by the second.
	euro := []byte("€")
	full := append(bytes.Repeat([]byte("a"), C-2), euro[:2]...)
	tests := []struct {
		name   string
		chunks [][]byte
		cursor int64
		limit  int
		final  bool
		want   string
		next   int64
		atEnd  bool
	}{
		{name: "a log never written reads empty and at its end", want: "", next: 0, atEnd: true},
		{name: "a read from a cursor answers the bytes after it", chunks: [][]byte{[]byte("hello\nworld\n")}, cursor: 6, limit: 100, want: "world\n", next: 12, atEnd: true},
		{name: "a page is cut at its limit and is not at the end", chunks: [][]byte{[]byte("hello\nworld\n")}, limit: 5, want: "hello", next: 5},
		{name: "a page cut inside a character ends before it", chunks: [][]byte{[]byte("ab€")}, limit: 3, want: "ab", next: 2},
		{name: "a growing chunk ending inside a character waits for the rest", chunks: [][]byte{[]byte("ab\xe2\x82")}, limit: 100, want: "ab", next: 2, atEnd: true},
		{name: "an ended log keeps a broken last character", chunks: [][]byte{[]byte("ab\xe2\x82")}, limit: 100, final: true, want: "ab\xe2\x82", next: 4, atEnd: true},
		{name: "a character split across chunks is completed from the next", chunks: [][]byte{full, []byte("\xacz")}, cursor: C - 3, limit: 100, want: "a€", next: C + 1},
		{name: "a full chunk read to its end goes on in the next chunk", chunks: [][]byte{full, []byte("\xacz")}, cursor: C, limit: 100, want: "\xacz", final: true, next: C + 2, atEnd: true},
		{name: "a cursor past what is stored reads nothing", chunks: [][]byte{[]byte("abc")}, cursor: 10, limit: 100, want: "", next: 3, atEnd: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newLogStore(t)
			for i, c := range tt.chunks {
				putChunk(t, s, i, c)
			}
			page, err := s.ReadLog(ctx, "p", "ex_1", tt.cursor, tt.limit, tt.final)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(page.Data); got != tt.want && !(len(got) > 40 && strings.HasSuffix(got, tt.want)) {
				t.Errorf("data = %q, want %q", clip(got), tt.want)
			}
			if page.Next != tt.next || page.AtEnd != tt.atEnd {
				t.Errorf("next, atEnd = %d, %v; want %d, %v", page.Next, page.AtEnd, tt.next, tt.atEnd)
			}
		})
	}
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:20] + "…" + s[len(s)-20:]
	}
	return s
}

func TestReadLogRefusesACursorOutOfRange(t *testing.T) {
	s := newLogStore(t)
	for _, c := range []int64{-1, artifacts.LogMaxBytes + 1} {
		_, err := s.ReadLog(context.Background(), "p", "ex_1", c, 10, false)
		if !errors.Is(err, registry.ErrInvalidArgument) {
			t.Errorf("cursor %d: err = %v, want invalid_argument", c, err)
		}
	}
}

func TestReadLogRefusesACursorPastTheEndOfAnEndedLog(t *testing.T) {
	ctx := context.Background()
	const C = artifacts.LogChunkBytes
	full := bytes.Repeat([]byte("a"), C)
	tests := []struct {
		name   string
		chunks [][]byte
		cursor int64
		wantOK bool
	}{
		{name: "the end of the log is a cursor of it", chunks: [][]byte{[]byte("abc")}, cursor: 3, wantOK: true},
		{name: "a cursor one byte past the end is refused", chunks: [][]byte{[]byte("abc")}, cursor: 4},
		{name: "a cursor in a chunk never written is refused", chunks: [][]byte{[]byte("abc")}, cursor: 5 * C},
		{name: "a cursor at the start of a chunk after a short one is refused", chunks: [][]byte{[]byte("abc")}, cursor: C},
		{name: "a cursor at the end of a full chunk is a cursor of the log", chunks: [][]byte{full}, cursor: C, wantOK: true},
		{name: "a cursor at the cap of a log shorter than it is refused", chunks: [][]byte{[]byte("abc")}, cursor: artifacts.LogMaxBytes},
		{name: "a log never written has only the start", cursor: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newLogStore(t)
			for i, c := range tt.chunks {
				putChunk(t, s, i, c)
			}
			page, err := s.ReadLog(ctx, "p", "ex_1", tt.cursor, 100, true)
			if tt.wantOK {
				if err != nil || page.Next != tt.cursor || !page.AtEnd {
					t.Errorf("page = next %d, atEnd %v, err %v; want next %d at the end", page.Next, page.AtEnd, err, tt.cursor)
				}
				return
			}
			if !errors.Is(err, registry.ErrInvalidArgument) {
				t.Errorf("err = %v (next %d), want invalid_argument", err, page.Next)
			}
		})
	}
}

func TestLogUploadURLsTakeEachChunkAndItsGrowth(t *testing.T) {
	ctx := context.Background()
	s := newLogStore(t)
	up, err := s.LogUpload(ctx, "p", "ex_1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(up.URLs) != artifacts.LogChunks || up.ChunkBytes != artifacts.LogChunkBytes || up.MaxBytes != artifacts.LogMaxBytes {
		t.Fatalf("upload = %d urls, %d, %d", len(up.URLs), up.ChunkBytes, up.MaxBytes)
	}
	for _, body := range []string{"first line\n", "first line\nsecond line\n"} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, up.URLs[0], strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT chunk 0: %s", resp.Status)
		}
	}
	page, err := s.ReadLog(ctx, "p", "ex_1", 11, 100, false)
	if err != nil {
		t.Fatal(err)
	}
	if string(page.Data) != "second line\n" || page.Next != 23 || !page.AtEnd {
		t.Errorf("page = %q, %d, %v", page.Data, page.Next, page.AtEnd)
	}
	other, err := s.ReadLog(ctx, "other", "ex_1", 0, 100, false)
	if err != nil || len(other.Data) != 0 {
		t.Errorf("another project reads %q, %v", other.Data, err)
	}
}
