package cli

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// recordFormatter writes one consumed record. The format language is a
// printf-like string (as kcat's -f), compiled once:
//
//	%t topic        %p partition    %o offset
//	%k key          %v value        %h headers as k=v,k=v
//	%K key length   %S value length (-1 for null)
//	%T timestamp (unix ms)          %d timestamp (RFC 3339, ms)
//	%%  percent     \n \r \t \\  newline, carriage return, tab, backslash
//
// The special format "json" writes one JSON object per record and line.
type recordFormatter interface {
	write(w io.Writer, r *kgo.Record) error
}

type fmtSegment struct {
	lit  []byte
	verb byte // 0 for a literal segment
}

type templateFormatter struct {
	segs []fmtSegment
	buf  []byte
}

func newRecordFormatter(format string) (recordFormatter, error) {
	if format == "json" {
		return jsonFormatter{}, nil
	}
	var segs []fmtSegment
	var lit []byte
	flush := func() {
		if len(lit) > 0 {
			segs = append(segs, fmtSegment{lit: lit})
			lit = nil
		}
	}
	for i := 0; i < len(format); i++ {
		c := format[i]
		switch c {
		case '\\':
			if i+1 == len(format) {
				lit = append(lit, c)
				continue
			}
			i++
			switch format[i] {
			case 'n':
				lit = append(lit, '\n')
			case 'r':
				lit = append(lit, '\r')
			case 't':
				lit = append(lit, '\t')
			case '\\':
				lit = append(lit, '\\')
			default:
				lit = append(lit, '\\', format[i])
			}
		case '%':
			if i+1 == len(format) {
				return nil, usageErrorf("--format %q: dangling %% at the end (write %%%% for a literal %%)", format)
			}
			i++
			v := format[i]
			switch v {
			case '%':
				lit = append(lit, '%')
			case 't', 'p', 'o', 'k', 'v', 'h', 'K', 'S', 'T', 'd':
				flush()
				segs = append(segs, fmtSegment{verb: v})
			default:
				return nil, usageErrorf("--format %q: unknown verb %%%c; known: %%t %%p %%o %%k %%v %%h %%K %%S %%T %%d %%%%", format, v)
			}
		default:
			lit = append(lit, c)
		}
	}
	flush()
	return &templateFormatter{segs: segs}, nil
}

func (f *templateFormatter) write(w io.Writer, r *kgo.Record) error {
	b := f.buf[:0]
	for _, s := range f.segs {
		switch s.verb {
		case 0:
			b = append(b, s.lit...)
		case 't':
			b = append(b, r.Topic...)
		case 'p':
			b = strconv.AppendInt(b, int64(r.Partition), 10)
		case 'o':
			b = strconv.AppendInt(b, r.Offset, 10)
		case 'k':
			b = append(b, r.Key...)
		case 'v':
			b = append(b, r.Value...)
		case 'K':
			b = appendLen(b, r.Key)
		case 'S':
			b = appendLen(b, r.Value)
		case 'T':
			b = strconv.AppendInt(b, r.Timestamp.UnixMilli(), 10)
		case 'd':
			b = r.Timestamp.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
		case 'h':
			for i, h := range r.Headers {
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, h.Key...)
				b = append(b, '=')
				b = append(b, h.Value...)
			}
		}
	}
	f.buf = b
	_, err := w.Write(b)
	return err
}

func appendLen(b, field []byte) []byte {
	if field == nil {
		return append(b, "-1"...)
	}
	return strconv.AppendInt(b, int64(len(field)), 10)
}

// jsonRecord is the --format json shape, one per line. Keys, values and
// header values are strings when they are valid UTF-8; otherwise they are
// base64 and the matching *_encoding field says so.
type jsonRecord struct {
	Topic         string       `json:"topic"`
	Partition     int32        `json:"partition"`
	Offset        int64        `json:"offset"`
	Timestamp     string       `json:"timestamp"`
	TimestampMs   int64        `json:"timestamp_ms"`
	Key           *string      `json:"key"`
	KeyEncoding   string       `json:"key_encoding,omitempty"`
	Value         *string      `json:"value"`
	ValueEncoding string       `json:"value_encoding,omitempty"`
	Headers       []jsonHeader `json:"headers"`
}

type jsonHeader struct {
	Key           string  `json:"key"`
	Value         *string `json:"value"`
	ValueEncoding string  `json:"value_encoding,omitempty"`
}

type jsonFormatter struct{}

func encodeBytes(b []byte) (*string, string) {
	if b == nil {
		return nil, ""
	}
	if utf8.Valid(b) {
		s := string(b)
		return &s, ""
	}
	s := base64.StdEncoding.EncodeToString(b)
	return &s, "base64"
}

func (jsonFormatter) write(w io.Writer, r *kgo.Record) error {
	jr := jsonRecord{
		Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
		Timestamp:   r.Timestamp.UTC().Format(time.RFC3339Nano),
		TimestampMs: r.Timestamp.UnixMilli(),
		Headers:     make([]jsonHeader, 0, len(r.Headers)),
	}
	jr.Key, jr.KeyEncoding = encodeBytes(r.Key)
	jr.Value, jr.ValueEncoding = encodeBytes(r.Value)
	for _, h := range r.Headers {
		jh := jsonHeader{Key: h.Key}
		jh.Value, jh.ValueEncoding = encodeBytes(h.Value)
		jr.Headers = append(jr.Headers, jh)
	}
	b, err := json.Marshal(jr)
	if err != nil {
		return fmt.Errorf("encoding record: %w", err)
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}
