// Internal to the model module: the weight matrices repacked at load into 16-row groups (kernels.h:
// repack_rows16), their bytes for the plan, and the load that writes them and releases the file pages.
#pragma once

#include <vector>

#include "model/model_internal.h"

namespace berth {

// The CPU-resident 2-D Q8_0 / Q4_0 matrices that the active ISA's kernels read faster repacked: every layer
// from n_dev_layers on, and the classifier when it is not token_embd (tied: the embedding lookup reads its rows)
// and not on the device. None when BERTH_REPACK=0.
std::vector<TensorView*> repack_targets(const HParams& hp, Weights& w, int n_dev_layers, bool output_on_device);
// Bytes of the arena holding them, page-rounded (0 when there are none): the plan's weights_repacked. Their
// file bytes are what the plan takes off weights_mapped.
int64_t repack_arena_bytes(const std::vector<TensorView*>& targets);
int64_t repack_file_bytes(const std::vector<TensorView*>& targets);
// Repacks every target into `arena` (repack_arena_bytes of them), across the pool, points each view at its
// repacked copy, and drops the file pages they came from (`mapping` may be null: nothing to drop).
void repack_weights(ThreadPool& pool, const std::vector<TensorView*>& targets, uint8_t* arena,
                    const MappedFile* mapping);

}  // namespace berth
