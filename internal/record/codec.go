package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// maxDecompressed bounds what one batch may inflate to, so a small
// malicious batch cannot make the broker allocate without limit.
const maxDecompressed = 256 << 20

// Allocation guards. Decoders that trust a size declared in their input
// (snappy's preamble, zstd's frame content size) would allocate it before
// decoding a byte, so a 20-byte batch could cost 256 MiB. A declared size is
// only believed if the input could really inflate to it:
//   - snappy: the best element is a 3-byte copy of 64 bytes (ratio < 22);
//   - zstd: a block costs at least 4 bytes and yields at most 128 KiB.
const (
	maxSnappyRatio = 32
	maxZstdRatio   = 128 << 10 / 4
)

var errTooLarge = errors.New("decompressed batch exceeds 256 MiB")

// xerialMagic opens snappy data framed the way Java's xerial library does:
// magic (8 bytes), version and compatible-version (int32 each), then
// (int32 length, raw snappy block)* .
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderSize = 16

var (
	zstdDecOnce sync.Once
	zstdDec     *zstd.Decoder
	zstdEncOnce sync.Once
	zstdEnc     *zstd.Encoder

	gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}
	lz4Writers  = sync.Pool{New: func() any {
		w := lz4.NewWriter(nil)
		// Java's KafkaLZ4BlockOutputStream writes 64 KiB independent
		// blocks; matching it keeps each writer small.
		_ = w.Apply(lz4.BlockSizeOption(lz4.Block64Kb))
		return w
	}}
	gzipReaders sync.Pool // *gzip.Reader; no New: a Reader needs valid input
	lz4Readers  = sync.Pool{New: func() any { return lz4.NewReader(nil) }}
)

// Decompress inflates the records section of a batch. The result never
// exceeds 256 MiB. For CodecNone it returns in itself; otherwise the result
// is a new slice owned by the caller.
func Decompress(c Codec, in []byte) ([]byte, error) {
	switch c {
	case CodecNone:
		return in, nil
	case CodecGzip:
		r, _ := gzipReaders.Get().(*gzip.Reader)
		var err error
		if r == nil {
			r, err = gzip.NewReader(bytes.NewReader(in))
		} else {
			err = r.Reset(bytes.NewReader(in))
		}
		if err != nil {
			return nil, err
		}
		out, err := readLimited(r, len(in))
		gzipReaders.Put(r)
		return out, err
	case CodecSnappy:
		return snappyDecode(in)
	case CodecLz4:
		// Kafka's lz4 is the LZ4 frame format (magic 04 22 4D 18), not
		// raw blocks.
		r := lz4Readers.Get().(*lz4.Reader)
		r.Reset(bytes.NewReader(in))
		out, err := readLimited(r, len(in))
		r.Reset(nil)
		lz4Readers.Put(r)
		return out, err
	case CodecZstd:
		return zstdDecode(in)
	}
	return nil, fmt.Errorf("unknown codec %d", c)
}

func zstdDecode(in []byte) ([]byte, error) {
	var fh zstd.Header
	if err := fh.Decode(in); err != nil {
		return nil, err
	}
	if fh.HasFCS && fh.FrameContentSize > uint64(len(in))*maxZstdRatio {
		return nil, fmt.Errorf("zstd: frame declares %d bytes from %d", fh.FrameContentSize, len(in))
	}
	zstdDecOnce.Do(func() {
		zstdDec, _ = zstd.NewReader(nil,
			zstd.WithDecoderMaxMemory(maxDecompressed),
			zstd.WithDecoderConcurrency(0))
	})
	return zstdDec.DecodeAll(in, nil)
}

// readLimited reads r to the end, failing past maxDecompressed. hint is the
// compressed size, used to size the first buffer.
func readLimited(r io.Reader, hint int) ([]byte, error) {
	n := min(max(4*hint, 512), 1<<20)
	out := make([]byte, 0, n)
	for {
		if len(out) == cap(out) {
			out = append(out, 0)[:len(out)]
		}
		k, err := r.Read(out[len(out):cap(out)])
		out = out[:len(out)+k]
		if len(out) > maxDecompressed {
			return nil, errTooLarge
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func snappyBlock(in []byte) ([]byte, error) {
	n, err := s2.DecodedLen(in)
	if err != nil {
		return nil, err
	}
	if n > maxDecompressed {
		return nil, errTooLarge
	}
	if n > maxSnappyRatio*len(in)+64 {
		return nil, fmt.Errorf("snappy: block declares %d bytes from %d", n, len(in))
	}
	return s2.Decode(nil, in)
}

// snappyDecode reads raw snappy (franz-go, librdkafka) or xerial-framed
// snappy (Java).
func snappyDecode(in []byte) ([]byte, error) {
	if len(in) < xerialHeaderSize || !bytes.HasPrefix(in, xerialMagic) {
		return snappyBlock(in)
	}
	in = in[xerialHeaderSize:]
	var out []byte
	for len(in) > 0 {
		if len(in) < 4 {
			return nil, errors.New("snappy: truncated xerial chunk length")
		}
		n := binary.BigEndian.Uint32(in)
		in = in[4:]
		if uint64(n) > uint64(len(in)) {
			return nil, errors.New("snappy: truncated xerial chunk")
		}
		dl, err := s2.DecodedLen(in[:n])
		if err != nil {
			return nil, err
		}
		if dl > maxSnappyRatio*int(n)+64 || len(out)+dl > maxDecompressed {
			return nil, errTooLarge
		}
		// Decode straight into out: no per-chunk allocation.
		start := len(out)
		out = append(out, make([]byte, dl)...)
		if _, err := s2.Decode(out[start:], in[:n]); err != nil {
			return nil, err
		}
		in = in[n:]
	}
	if out == nil {
		out = []byte{}
	}
	return out, nil
}

// Compress deflates a records section with codec c. For CodecNone it
// returns in itself. Snappy output is raw (unframed) snappy, which Java's
// xerial reader also accepts; lz4 output is an LZ4 frame with 64 KiB
// independent blocks, as Java writes it.
func Compress(c Codec, in []byte) ([]byte, error) {
	var buf bytes.Buffer
	switch c {
	case CodecNone:
		return in, nil
	case CodecGzip:
		buf.Grow(len(in)/2 + 64)
		w := gzipWriters.Get().(*gzip.Writer)
		w.Reset(&buf)
		_, err := w.Write(in)
		if err == nil {
			err = w.Close()
		}
		w.Reset(nil)
		gzipWriters.Put(w)
		if err != nil {
			return nil, err
		}
	case CodecSnappy:
		return s2.EncodeSnappy(nil, in), nil
	case CodecLz4:
		buf.Grow(len(in)/2 + 64)
		w := lz4Writers.Get().(*lz4.Writer)
		w.Reset(&buf)
		_, err := w.Write(in)
		if err == nil {
			err = w.Close()
		}
		w.Reset(nil)
		lz4Writers.Put(w)
		if err != nil {
			return nil, err
		}
	case CodecZstd:
		zstdEncOnce.Do(func() {
			// One encoder shared by all goroutines: EncodeAll is safe for
			// concurrent use. The window is kept at 1 MiB (level default
			// would pick 8 MiB) so consumers need little memory.
			zstdEnc, _ = zstd.NewWriter(nil, zstd.WithWindowSize(1<<20), zstd.WithEncoderConcurrency(1))
		})
		return zstdEnc.EncodeAll(in, nil), nil
	default:
		return nil, fmt.Errorf("unknown codec %d", c)
	}
	return buf.Bytes(), nil
}
