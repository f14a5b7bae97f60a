package zoo

// ComputeBlock is the model's compute block as the loader runs it: the
// signature's Batch, else DefaultBatch. Shards are aligned to it
// (shard.Range), so code that plans a sharded run without loading the
// model (zoo k8s, which bin/zoo answers without LibTorch) takes it from
// here; loader.Generator.Block is the same rule.
func (s Signature) ComputeBlock() int {
	if s.Batch > 0 {
		return s.Batch
	}
	return DefaultBatch
}
