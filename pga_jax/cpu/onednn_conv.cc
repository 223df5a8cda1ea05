// The 5x5 stride-2 SAME convolution's three maps (pga_jax/layers.py) and a matmul as XLA FFI
// handlers that run oneDNN's convolution primitives and sgemm, float32, built and loaded by
// pga_jax/cpu/onednn.py, against oneDNN 2.x or 3.x (DNNL_VERSION_MAJOR picks the primitive
// descriptors' API: FwdPd / BwdDataPd / BwdWeightsPd).
//
//   PgaConvDown(u, w)    -> z  = down(u, w):   z[m] = sum_t w[t] u[2m + t - p]    (forward)
//   PgaConvUp(z, w)      -> u  = up(z, w):     its transpose w.r.t. u             (backward data)
//   PgaConvWgrad(u, zb)  -> dw = wgrad(u, zb): sum_m u[2m + t - p] zb[m]          (backward weights)
//   PgaMatmul(a, b; trans_a, trans_b) -> op(a) op(b)   (row-major; op transposes where asked)
//
// u [B, H, W, C_u], z [B, H/2, W/2, C_z] (ceil), w (5, 5, C_u, C_z) HWIO, p the SAME padding before.
// Each call splits its work into one chunk per thread of XLA's intra-op pool (the batch for the
// maps, the output rows for the matmul) and runs each chunk single-threaded (OpenMP capped at 1
// on those threads), so two calls that XLA runs side by side share the pool's threads instead of
// oversubscribing the cores. wgrad's chunks give partial kernels that the last chunk to finish
// adds in chunk order: the sum does not depend on timing.
#include <omp.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "dnnl.hpp"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;
using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

namespace {

dnnl::engine& Engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

void OneThread() {
  thread_local bool set = false;
  if (!set) {
    omp_set_num_threads(1);
    set = true;
  }
}

std::pair<int64_t, int64_t> SamePads(int64_t size) {
  int64_t total = ((size + 1) / 2 - 1) * 2 + 5 - size;
  if (total < 0) total = 0;
  return {total / 2, total - total / 2};
}

enum Kind { kDown = 0, kUp = 1, kWgrad = 2 };

struct Geometry {
  int64_t n, h, w, cu, ho, wo, cz;  // n: this chunk's batch
  bool operator<(const Geometry& o) const {
    return std::tie(n, h, w, cu, ho, wo, cz) < std::tie(o.n, o.h, o.w, o.cu, o.ho, o.wo, o.cz);
  }
};

struct Prim {
  dnnl::primitive prim;
  memory::desc weights;  // the primitive's (diff_)weights layout
  memory::desc scratch;
};

memory::desc ImageMd(const Geometry& g) {  // u: [n, h, w, cu] NHWC
  return memory::desc({g.n, g.cu, g.h, g.w}, dt::f32, tag::nhwc);
}
memory::desc CodeMd(const Geometry& g) {  // z: [n, ho, wo, cz] NHWC
  return memory::desc({g.n, g.cz, g.ho, g.wo}, dt::f32, tag::nhwc);
}
memory::desc KernelMd(const Geometry& g) {  // w: (5, 5, cu, cz) HWIO
  return memory::desc({g.cz, g.cu, 5, 5}, dt::f32, tag::hwio);
}

// The primitive of descriptor pd, with its (diff_)weights layout and scratchpad.
template <class Primitive, class PrimitiveDesc>
std::unique_ptr<Prim> Make(const PrimitiveDesc& pd, const memory::desc& weights) {
  auto p = std::make_unique<Prim>();
  p->prim = Primitive(pd);
  p->weights = weights;
  p->scratch = pd.scratchpad_desc();
  return p;
}

// The convolution's descriptors: image (src / diff_src), kernel (weights / diff_weights, layout
// left to oneDNN), code (dst / diff_dst), strides and padding.
struct ConvDescs {
  memory::desc image, kernel, code;
  memory::dims strides, lo, hi;
};

using ConvFwd = dnnl::convolution_forward;
using ConvBwdData = dnnl::convolution_backward_data;
using ConvBwdWeights = dnnl::convolution_backward_weights;
constexpr auto kDirect = dnnl::algorithm::convolution_direct;

// The primitive descriptors of the three maps, one helper each per oneDNN API. The backward
// ones take the forward one as their hint.
#if DNNL_VERSION_MAJOR >= 3
// oneDNN 3.x: primitive descriptors take the engine first and the memory descriptors directly.
ConvFwd::primitive_desc FwdPd(const ConvDescs& c, const dnnl::primitive_attr& attr,
                              const dnnl::engine& eng) {
  return ConvFwd::primitive_desc(eng, dnnl::prop_kind::forward_training, kDirect, c.image,
                                 c.kernel, c.code, c.strides, c.lo, c.hi, attr);
}
ConvBwdData::primitive_desc BwdDataPd(const ConvDescs& c, const dnnl::primitive_attr& attr,
                                      const dnnl::engine& eng, const ConvFwd::primitive_desc& fpd) {
  return ConvBwdData::primitive_desc(eng, kDirect, c.image, c.kernel, c.code, c.strides, c.lo,
                                     c.hi, fpd, attr);
}
ConvBwdWeights::primitive_desc BwdWeightsPd(const ConvDescs& c, const dnnl::primitive_attr& attr,
                                            const dnnl::engine& eng,
                                            const ConvFwd::primitive_desc& fpd) {
  return ConvBwdWeights::primitive_desc(eng, kDirect, c.image, c.kernel, c.code, c.strides, c.lo,
                                        c.hi, fpd, attr);
}
#else
// oneDNN 2.x: an operation descriptor, then its primitive descriptor (attr, engine, hint).
ConvFwd::primitive_desc FwdPd(const ConvDescs& c, const dnnl::primitive_attr& attr,
                              const dnnl::engine& eng) {
  ConvFwd::desc d(dnnl::prop_kind::forward_training, kDirect, c.image, c.kernel, c.code,
                  c.strides, c.lo, c.hi);
  return ConvFwd::primitive_desc(d, attr, eng);
}
ConvBwdData::primitive_desc BwdDataPd(const ConvDescs& c, const dnnl::primitive_attr& attr,
                                      const dnnl::engine& eng, const ConvFwd::primitive_desc& fpd) {
  ConvBwdData::desc d(kDirect, c.image, c.kernel, c.code, c.strides, c.lo, c.hi);
  return ConvBwdData::primitive_desc(d, attr, eng, fpd);
}
ConvBwdWeights::primitive_desc BwdWeightsPd(const ConvDescs& c, const dnnl::primitive_attr& attr,
                                            const dnnl::engine& eng,
                                            const ConvFwd::primitive_desc& fpd) {
  ConvBwdWeights::desc d(kDirect, c.image, c.kernel, c.code, c.strides, c.lo, c.hi);
  return ConvBwdWeights::primitive_desc(d, attr, eng, fpd);
}
#endif

const Prim& Get(Kind kind, const Geometry& g) {
  static std::mutex mu;
  static std::map<std::pair<int, Geometry>, std::unique_ptr<Prim>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = cache[{kind, g}];
  if (slot) return *slot;
  auto [pt, pb] = SamePads(g.h);
  auto [pl, pr] = SamePads(g.w);
  ConvDescs c{ImageMd(g), memory::desc({g.cz, g.cu, 5, 5}, dt::f32, tag::any), CodeMd(g),
              {2, 2}, {pt, pl}, {pb, pr}};
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  auto& eng = Engine();
  auto fpd = FwdPd(c, attr, eng);
  if (kind == kDown) {
    slot = Make<ConvFwd>(fpd, fpd.weights_desc());
  } else if (kind == kUp) {
    auto bpd = BwdDataPd(c, attr, eng, fpd);
    slot = Make<ConvBwdData>(bpd, bpd.weights_desc());
  } else {
    auto wpd = BwdWeightsPd(c, attr, eng, fpd);
    slot = Make<ConvBwdWeights>(wpd, wpd.diff_weights_desc());
  }
  return *slot;
}

float* Scratch(size_t bytes) {
  thread_local std::vector<float> buf;
  if (buf.size() * sizeof(float) < bytes) buf.resize(bytes / sizeof(float) + 1);
  return buf.data();
}

// One chunk (g.n batch rows, pointers at its first row): kind's map, single-threaded.
void RunChunk(Kind kind, const Geometry& g, const float* u_or_null, const float* w_or_null,
              const float* z_or_null, float* out) {
  OneThread();
  const Prim& p = Get(kind, g);
  auto& eng = Engine();
  dnnl::stream s(eng);
  std::vector<float> wbuf(p.weights.get_size() / sizeof(float) + 1);
  memory wmem(p.weights, eng, wbuf.data());
  memory scratch(p.scratch, eng, Scratch(p.scratch.get_size()));
  if (kind == kWgrad) {
    memory umem(ImageMd(g), eng, const_cast<float*>(u_or_null));
    memory zmem(CodeMd(g), eng, const_cast<float*>(z_or_null));
    p.prim.execute(s, {{DNNL_ARG_SRC, umem}, {DNNL_ARG_DIFF_DST, zmem},
                       {DNNL_ARG_DIFF_WEIGHTS, wmem}, {DNNL_ARG_SCRATCHPAD, scratch}});
    memory user(KernelMd(g), eng, out);
    dnnl::reorder(wmem, user).execute(s, wmem, user);
  } else {
    memory user(KernelMd(g), eng, const_cast<float*>(w_or_null));
    dnnl::reorder(user, wmem).execute(s, user, wmem);
    if (kind == kDown) {
      memory umem(ImageMd(g), eng, const_cast<float*>(u_or_null));
      memory zmem(CodeMd(g), eng, out);
      p.prim.execute(s, {{DNNL_ARG_SRC, umem}, {DNNL_ARG_WEIGHTS, wmem},
                         {DNNL_ARG_DST, zmem}, {DNNL_ARG_SCRATCHPAD, scratch}});
    } else {
      memory zmem(CodeMd(g), eng, const_cast<float*>(z_or_null));
      memory umem(ImageMd(g), eng, out);
      p.prim.execute(s, {{DNNL_ARG_DIFF_DST, zmem}, {DNNL_ARG_WEIGHTS, wmem},
                         {DNNL_ARG_DIFF_SRC, umem}, {DNNL_ARG_SCRATCHPAD, scratch}});
    }
  }
  s.wait();
}

int64_t Chunks(ffi::ThreadPool& pool, int64_t units) {
  int64_t t = pool.num_threads();
  if (t < 1) t = 1;
  return t < units ? t : units;
}

// Splits [0, total) into k near-equal parts: part i is [start(i), start(i + 1)).
int64_t Start(int64_t i, int64_t k, int64_t total) { return i * total / k; }

ffi::Future Schedule(ffi::ThreadPool pool, Kind kind, Geometry g, const float* u, const float* w,
                     const float* z, float* out) {
  // Batch chunks, one per thread. wgrad's chunks each give a partial kernel gradient; the last
  // chunk to finish adds them in chunk order (out = p0 + p1 + ...), so the sum is deterministic.
  int64_t k = Chunks(pool, g.n);
  ffi::CountDownPromise promise(k);
  ffi::Future future(promise);
  struct Partials {
    std::atomic<int64_t> left;
    std::vector<std::vector<float>> parts;
  };
  auto partials = std::make_shared<Partials>();
  int64_t kernel_size = 25 * g.cu * g.cz;
  if (kind == kWgrad) {
    partials->left = k;
    partials->parts.resize(k - 1);
    for (auto& p : partials->parts) p.resize(kernel_size);
  }
  int64_t image = g.h * g.w * g.cu, code = g.ho * g.wo * g.cz;
  for (int64_t i = 0; i < k; ++i) {
    int64_t a = Start(i, k, g.n), b = Start(i + 1, k, g.n);
    Geometry c = g;
    c.n = b - a;
    const float *cu = u ? u + a * image : nullptr, *cz = z ? z + a * code : nullptr;
    float* co = kind == kDown ? out + a * code : kind == kUp ? out + a * image
                : i == 0 ? out : partials->parts[i - 1].data();
    pool.Schedule([kind, c, cu, w, cz, co, out, kernel_size, partials, promise]() mutable {
      try {
        RunChunk(kind, c, cu, w, cz, co);
        if (kind == kWgrad && --partials->left == 0) {
          for (auto& p : partials->parts)
            for (int64_t j = 0; j < kernel_size; ++j) out[j] += p[j];
        }
        promise.CountDown();
      } catch (const dnnl::error& e) {
        promise.CountDown(ffi::Error(ffi::ErrorCode::kInternal, e.what()));
      }
    });
  }
  return future;
}

Geometry Geo(ffi::Span<const int64_t> image, ffi::Span<const int64_t> code) {
  return Geometry{image[0], image[1], image[2], image[3], code[1], code[2], code[3]};
}

ffi::Future Down(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> u, ffi::Buffer<ffi::F32> w,
                 ffi::ResultBuffer<ffi::F32> z) {
  return Schedule(pool, kDown, Geo(u.dimensions(), z->dimensions()), u.typed_data(),
                  w.typed_data(), nullptr, z->typed_data());
}
ffi::Future Up(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> z, ffi::Buffer<ffi::F32> w,
               ffi::ResultBuffer<ffi::F32> u) {
  return Schedule(pool, kUp, Geo(u->dimensions(), z.dimensions()), nullptr, w.typed_data(),
                  z.typed_data(), u->typed_data());
}
ffi::Future Wgrad(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> u, ffi::Buffer<ffi::F32> z,
                  ffi::ResultBuffer<ffi::F32> w) {
  return Schedule(pool, kWgrad, Geo(u.dimensions(), z.dimensions()), u.typed_data(), nullptr,
                  z.typed_data(), w->typed_data());
}

// op(a) op(b) -> [M, N], row-major, op = transpose where trans_a / trans_b: oneDNN's sgemm.
// Chunks of output rows, one per thread, each single-threaded: no sums across chunks.
ffi::Future Matmul(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> a, ffi::Buffer<ffi::F32> b,
                   ffi::ResultBuffer<ffi::F32> out, bool trans_a, bool trans_b) {
  int64_t m = out->dimensions()[0], n = out->dimensions()[1];
  int64_t kdim = trans_a ? a.dimensions()[0] : a.dimensions()[1];
  int64_t lda = a.dimensions()[1], ldb = b.dimensions()[1];
  const float *ap = a.typed_data(), *bp = b.typed_data();
  float* op = out->typed_data();
  int64_t k = Chunks(pool, m);
  ffi::CountDownPromise promise(k);
  ffi::Future future(promise);
  for (int64_t c = 0; c < k; ++c) {
    int64_t lo = Start(c, k, m), hi = Start(c + 1, k, m);
    const float* a0 = trans_a ? ap + lo : ap + lo * lda;
    pool.Schedule([=]() mutable {
      OneThread();
      auto st = dnnl::sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', hi - lo, n, kdim, 1.0f, a0,
                            lda, bp, ldb, 0.0f, op + lo * n, n);
      if (st == dnnl::status::success) {
        promise.CountDown();
      } else {
        promise.CountDown(ffi::Error(ffi::ErrorCode::kInternal, "dnnl_sgemm failed"));
      }
    });
  }
  return future;
}

}  // namespace

#define PGA_BIND                                                                \
  ffi::Ffi::Bind().Ctx<ffi::ThreadPool>().Arg<ffi::Buffer<ffi::F32>>().Arg<     \
      ffi::Buffer<ffi::F32>>().Ret<ffi::Buffer<ffi::F32>>()
XLA_FFI_DEFINE_HANDLER_SYMBOL(PgaConvDown, Down, PGA_BIND);
XLA_FFI_DEFINE_HANDLER_SYMBOL(PgaConvUp, Up, PGA_BIND);
XLA_FFI_DEFINE_HANDLER_SYMBOL(PgaConvWgrad, Wgrad, PGA_BIND);
XLA_FFI_DEFINE_HANDLER_SYMBOL(PgaMatmul, Matmul,
                              PGA_BIND.Attr<bool>("trans_a").Attr<bool>("trans_b"));
