package blast

// DecodeContextInto exposes decodeContextInto to the fuzz test, which
// holds the decoding a worker does (a reused map, interned names) to
// encoding/json.
var DecodeContextInto = decodeContextInto
