package format

import (
	"strings"
	"testing"
)

func TestParseSource(t *testing.T) {
	for _, tt := range []struct {
		in, bucket, key, wantErr string
	}{
		{in: "s3://bucket/key.jpg", bucket: "bucket", key: "key.jpg"},
		{in: "obs://obs-gaia-test/data/image/1.jpg", bucket: "obs-gaia-test", key: "data/image/1.jpg"},
		{in: "OBS://b.c-d/x", bucket: "b.c-d", key: "x"},
		{in: "/obs-gaia-test/data/中文 名.jpg", bucket: "obs-gaia-test", key: "data/中文 名.jpg"},
		{in: "bucket/key", wantErr: "must be obs://bucket/key"},
		{in: "content://hello", wantErr: "holds text"},
		{in: "s3://bucket", wantErr: "directory"},
		{in: "s3://bucket/", wantErr: "directory"},
		{in: "s3://bucket/dir/", wantErr: "directory"},
		{in: "s3://Bucket/x", wantErr: "lower-case"},
		{in: "s3://ab/x", wantErr: "3 to 63"},
		{in: "s3://-ab/x", wantErr: "start and end"},
		{in: "s3:///x", wantErr: "names no bucket"},
		{in: "s3://a..b/x", wantErr: "two dots"},
		{in: "s3://10.1.2.3/x", wantErr: "IP address"},
		{in: "s3://bkt/a//b", wantErr: "empty path segment"},
		{in: "s3://bkt/./b", wantErr: "'.'"},
		{in: "s3://bkt/a/..", wantErr: "'..'"},
		{in: "s3://bkt/a\nb", wantErr: "control character"},
		{in: "s3://bkt/a\xffb", wantErr: "UTF-8"},
		{in: "s3://bkt/" + strings.Repeat("k", MaxKeyBytes+1), wantErr: "at most 1024 bytes"},
	} {
		b, k, err := ParseSource(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseSource(%q) err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || b != tt.bucket || k != tt.key {
			t.Errorf("ParseSource(%q) = %q, %q, %v", tt.in, b, k, err)
		}
	}
}

func TestContentText(t *testing.T) {
	if text, ok := ContentText("Content://hi"); !ok || text != "hi" {
		t.Fatal("ContentText")
	}
	if _, ok := ContentText("s3://bkt/x"); ok {
		t.Fatal("ContentText of an object")
	}
}
