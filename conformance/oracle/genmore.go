package oracle

func (b *builder) docs(i int) { b.logic(i) }
func (b *builder) sets(i int) { b.logic(i) }
func (b *builder) http(i int) { b.logic(i) }
