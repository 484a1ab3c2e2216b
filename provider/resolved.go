package provider

// Config is the configuration a provider resolves from its options, the
// FLAGD_* environment variables and the defaults (config.feature's table):
// what New would use.
type Config = config

// ResolveConfig resolves the options as New does, without making a
// provider: for tests and for tools that show the effective configuration.
func ResolveConfig(opts ...Option) (Config, error) {
	var s settings
	for _, o := range opts {
		o(&s)
	}
	return resolveConfig(s)
}
