// Package oracle is a differential oracle: it compares Vexil's answers with
// upstream flagd's, request by request.
//
// A seeded generator (Generate) builds scenarios: flag documents (JSON and
// YAML files), the ordered --uri file:PATH list a daemon starts with, and
// the requests to send to it: Connect JSON calls to flagd.evaluation.v1 and
// v2 and the deprecated schema.v1 (typed resolves, ResolveAll, the first
// message of EventStream), the same typed resolves and ResolveAll over
// gRPC (as RPC providers call them), OFREP single and bulk evaluations, the sync
// service's FetchAllFlags, GetMetadata and first SyncFlags message over
// gRPC, and malformed requests (bodies, content types, methods, paths,
// headers, selectors).
//
// The recorder (cmd/record) starts upstream flagd once per scenario, asks
// it everything and stores documents, requests and answers as golden files
// under testdata/SCENARIO/: the documents at the relative paths of their
// URIs and golden.jsonl, whose first line describes the scenario (flagd's
// commit, seed, URIs) and each further line one exchange. Regenerate all
// with
//
//	go run ./conformance/oracle/cmd/record -flagd $FLAGD_BIN
//
// or some scenarios with -run REGEXP (see the command's help).
//
// TestReplay, inside go test ./..., needs no flagd: it builds vexil, starts
// it per scenario with exactly the arguments flagd had (vexil start --uri
// file:PATH... --port --management-port --sync-port --ofrep-port, working
// directory testdata/SCENARIO) and compares each answer with the recorded
// one. Rules (Compare): the status code (or gRPC code) must be equal; the
// recorded headers (RecordedHeaders: content type, Allow, Location,
// Accept-Post, gRPC status and message, CORS headers, Content-Encoding)
// must be equal, an absent one absent; a body recorded as JSON must parse
// as JSON and be equal to it semantically (object key order and number
// formatting ignored, nothing else); any other body must be equal byte for
// byte. Stream messages and the sync service's flag_configuration (a JSON
// document inside a string) are compared as JSON likewise.
//
// Normalisation: only the headers above are recorded, so Date,
// Content-Length, Vary and the like are dropped; a gzip body is recorded
// decompressed (Content-Encoding stays). Streams are recorded up to their
// first message. A string that is a UUID (flagd gives a document without
// a flagSetId a random one) is replaced by "<uuid>" in both answers, and
// protobuf-go's error prefix "proto:" followed by a no-break space (that
// library picks a space or a no-break space per binary) by "proto: ".
// Nothing else in flagd's answers varies between runs (checked by
// recording twice).
package oracle
