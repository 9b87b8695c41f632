package artifacts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/workflow"
)

// The execution log's layout in the blob store (docs/executions.md,
// "Execution logs"): chunk i of an execution's log is the object
// LogKey(project, execID, i) and holds bytes [i*LogChunkBytes,
// (i+1)*LogChunkBytes) of it, so a byte offset names a chunk and a place in
// it without listing anything.
const (
	// LogChunkBytes is the size of every chunk but the last.
	LogChunkBytes = 1 << 20
	// LogMaxBytes caps one execution's log; the runner cuts the flow's
	// output before it and ends the log with a truncation marker.
	LogMaxBytes = 10 << 20
	// LogChunks is how many chunk URLs a run request carries.
	LogChunks = LogMaxBytes / LogChunkBytes
	// LogsPrefix is the blob key prefix of every log (the bucket expires it).
	LogsPrefix = "logs/"
)

// LogKey is where chunk seq of an execution's log is stored.
func LogKey(project, execID string, seq int) string {
	return fmt.Sprintf("%s%s/%s/%04d", LogsPrefix, project, execID, seq)
}

// LogUpload returns the presigned PUTs the runner ships an execution's log
// through, one per chunk; each may be PUT again, as its chunk grows, until
// ttl passes.
func (s *Store) LogUpload(ctx context.Context, project, execID string, ttl time.Duration) (workflow.LogUpload, error) {
	up := workflow.LogUpload{URLs: make([]string, LogChunks), ChunkBytes: LogChunkBytes, MaxBytes: LogMaxBytes}
	for i := range up.URLs {
		p, err := s.Blobs.PresignPut(ctx, LogKey(project, execID, i), 0, ttl)
		if err != nil {
			return workflow.LogUpload{}, fmt.Errorf("presign log chunk %d: %w", i, err)
		}
		up.URLs[i] = p.URL
	}
	return up, nil
}

// LogPage is a piece of an execution's log read from a byte offset.
type LogPage struct {
	Data []byte
	// Next is the offset after Data.
	Next int64
	// AtEnd is true when nothing is stored after Next yet.
	AtEnd bool
}

// ReadLog reads at most limit bytes of an execution's log from offset
// cursor. A page never ends inside a UTF-8 character: an incomplete one at
// its end is completed from the next chunk or left for the next read;
// final (the execution has ended, so the log will not grow) returns such
// bytes as they are instead of waiting for the rest. A log not (yet)
// written reads as empty. Errors: invalid_argument (cursor), internal,
// unavailable. A cursor past the end of an ended log is invalid_argument;
// past what is stored of a growing one it reads nothing new.
func (s *Store) ReadLog(ctx context.Context, project, execID string, cursor int64, limit int, final bool) (LogPage, error) {
	if cursor < 0 || cursor > LogMaxBytes {
		return LogPage{}, registry.Errorf(registry.CodeInvalidArgument, "cursor %d is out of range: pass the next_cursor of the previous page, or no cursor to read from the start", cursor).
			WithDetails("parameter", "cursor")
	}
	seq, off := int(cursor/LogChunkBytes), int(cursor%LogChunkBytes)
	if final && seq > 0 && off == 0 {
		// A cursor at a chunk boundary is in the log only if the chunk
		// before it is full.
		prev, err := s.logChunk(ctx, project, execID, seq-1)
		if err != nil {
			return LogPage{}, err
		}
		if len(prev) < LogChunkBytes {
			return LogPage{}, pastTheEnd(cursor, int64(seq-1)*LogChunkBytes+int64(len(prev)))
		}
	}
	var data []byte
	for first := true; seq < LogChunks; first = false {
		chunk, err := s.logChunk(ctx, project, execID, seq)
		if err != nil {
			return LogPage{}, err
		}
		if off > len(chunk) {
			if first && final {
				// The log will not grow: no page ever ended there.
				return LogPage{}, pastTheEnd(cursor, int64(seq)*LogChunkBytes+int64(len(chunk)))
			}
			off = len(chunk) // a cursor past what is stored yet reads nothing new
		}
		data = chunk[off:]
		if len(data) > 0 || len(chunk) < LogChunkBytes {
			break
		}
		seq, off = seq+1, 0 // a full chunk read to its end: go on in the next
	}
	limited := len(data) > limit
	if limited {
		data = data[:limit]
	}
	// The data runs to the end of a full chunk: the next chunk may go on.
	chunkEnd := !limited && off+len(data) == LogChunkBytes
	if tail := incompleteTail(data); tail > 0 {
		if chunkEnd && seq+1 < LogChunks {
			next, err := s.logChunk(ctx, project, execID, seq+1)
			if err != nil {
				return LogPage{}, err
			}
			need := runeLen(data[len(data)-tail]) - tail
			switch {
			case len(next) >= need:
				data = append(bytes.Clone(data), next[:need]...)
			case !final:
				data = data[:len(data)-tail]
			}
		} else if limited || !final {
			data = data[:len(data)-tail]
		}
	}
	return LogPage{
		Data:  data,
		Next:  int64(seq)*LogChunkBytes + int64(off+len(data)),
		AtEnd: !limited && (!chunkEnd || seq+1 >= LogChunks),
	}, nil
}

// pastTheEnd is the error for a cursor after the end of an ended log.
func pastTheEnd(cursor, end int64) error {
	return registry.Errorf(registry.CodeInvalidArgument, "cursor %d is past the end of this log (%d bytes): pass the next_cursor of the previous page, or no cursor to read from the start", cursor, end).
		WithDetails("parameter", "cursor")
}

// logChunk reads one chunk; a chunk not written yet is empty.
func (s *Store) logChunk(ctx context.Context, project, execID string, seq int) ([]byte, error) {
	r, err := s.Blobs.Get(ctx, LogKey(project, execID, seq))
	if errors.Is(err, registry.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read log chunk %d of %s: %w", seq, execID, err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, LogChunkBytes))
	if err != nil {
		return nil, fmt.Errorf("read log chunk %d of %s: %w", seq, execID, err)
	}
	return b, nil
}

// incompleteTail is how many bytes at the end of b begin a UTF-8 character
// that b does not finish (0 to 3).
func incompleteTail(b []byte) int {
	for n := 1; n < utf8.UTFMax && n <= len(b); n++ {
		c := b[len(b)-n]
		if !utf8.RuneStart(c) {
			continue
		}
		if utf8.FullRune(b[len(b)-n:]) {
			return 0
		}
		return n
	}
	return 0
}

// runeLen is the length of the UTF-8 character lead begins.
func runeLen(lead byte) int {
	switch {
	case lead >= 0xF0:
		return 4
	case lead >= 0xE0:
		return 3
	case lead >= 0xC0:
		return 2
	}
	return 1
}
