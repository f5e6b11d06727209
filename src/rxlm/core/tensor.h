// A read-only view of one stored tensor (usually inside a memory-mapped checkpoint).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "rxlm/core/dtype.h"

namespace rxlm {

struct TensorView {
  std::string name;            // canonical (Hugging Face) name, e.g. model.layers.0.self_attn.q_proj.weight
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // PyTorch order, outermost first: a Linear weight is [out_features, in_features]
  const std::byte* data = nullptr;
  uint64_t nbytes = 0;
  std::string file;            // the file it lives in, for error messages

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  int64_t rows() const { return shape.empty() ? 1 : numel() / shape.back(); }
  int64_t cols() const { return shape.empty() ? 1 : shape.back(); }
  const std::byte* row(int64_t r) const { return data + dtype_bytes(dtype, cols()) * static_cast<uint64_t>(r); }
};

}  // namespace rxlm
