package server

import "github.com/quillstream/quill/internal/metadata"

// offlineReplicas lists the replicas on fenced or unknown brokers (cluster
// mode); never nil, as Metadata v5+ wants an array.
func offlineReplicas(img *metadata.Image, replicas []int32) []int32 {
	out := []int32{}
	for _, r := range replicas {
		if b := img.Brokers[r]; b == nil || b.Fenced {
			out = append(out, r)
		}
	}
	return out
}
