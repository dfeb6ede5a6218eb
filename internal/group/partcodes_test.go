package group

import (
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestPartitionCodes(t *testing.T) {
	sizes := []int{2, 0, 3}
	codes := newPartitionCodes(len(sizes), func(i int) int { return sizes[i] })
	for i, n := range sizes {
		if len(codes[i]) != n {
			t.Fatalf("topic %d: %d codes, want %d", i, len(codes[i]), n)
		}
	}
	codes[2][1] = kerr.OffsetMetadataTooLarge.Code
	codes.setAll(kerr.NotCoordinator.Code)
	nc, big := kerr.NotCoordinator.Code, kerr.OffsetMetadataTooLarge.Code
	if !slices.Equal(codes[0], []int16{nc, nc}) || !slices.Equal(codes[2], []int16{nc, big, nc}) {
		t.Fatalf("codes after setAll: %v (an existing error must be kept)", codes)
	}
}

func TestCommitMetadata(t *testing.T) {
	ok, long := "abcd", strings.Repeat("x", 5)
	for _, tc := range []struct {
		md   *string
		want string
		code int16
	}{
		{nil, "", 0},
		{&ok, "abcd", 0},
		{&long, "", kerr.OffsetMetadataTooLarge.Code},
	} {
		got, code := commitMetadata(tc.md, 4)
		if got != tc.want || code != tc.code {
			t.Errorf("commitMetadata(%v) = %q, %d; want %q, %d", tc.md, got, code, tc.want, tc.code)
		}
	}
}
