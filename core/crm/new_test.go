package crm

// mustNew is New for a configuration a test knows is valid.
func mustNew(cfg Config) *CRM {
	c, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return c
}
