/* The NTM step's memory part, fused: head activations, addressing (eq. 5-9), the
 * erase/add write (eq. 3-4; several write heads multiply their erasures), the row norms
 * and the reads (eq. 2), and the hand-derived backward of all of it; plus the LSTM
 * cell's pointwise part. Written for ntm_widgets/core/fused.py, which runs the matrix
 * products in PyTorch and calls these once per time step.
 *
 * Layout: batch innermost. Every array is C-contiguous with the batch as its last
 * axis: memory (N, M, B), weightings (H, N, B), raw head parameters (P, B), reads
 * (R*M, B). Each loop's innermost level runs over the batch, so the compiler
 * vectorises it without horizontal sums or remainders, and the short rows of the
 * memory (M ~ 8-20 values) cost nothing extra. Sums run over rows and columns in a
 * fixed order, so results do not depend on the batch size.
 *
 * Included by fused.c once per floating-point type (REAL); FN(name) appends the type's
 * suffix. The maths is that of the reference functions (addressing.address, memory.write
 * and write_many, Head.split); tests/test_fused.py checks this code against them in
 * float64, forward and backward.
 *
 * Rows of `raw`, H = R + W heads, read heads first: where each kind of parameter starts
 * is given at call time (ntm_rows_t, built by fused.py's head_rows from Head.fields);
 * each kind's values for all heads are contiguous, in head order (keys H*M, adds W*M,
 * betas H, gammas H, gs H, erases W*M, shift logits H*S), and each head's S = 2K + 1
 * shift logits run from offset +K down to -K, so eq. 8 is a sliding window.
 */

#define VB NTM_SIMD for (int b = 0; b < B; b++)
/* Sums over a row's M columns for every sequence: the batch is cut into blocks of one
 * vector register (NTM_BL values) whose partial sums stay in registers across the
 * row (a sum kept in memory makes each column wait for the last). BLOCKS compiles its
 * body twice: for a full block (bl a constant) and for the remainder. */
#define NTM_BL (64 / (int)sizeof(REAL))
#define BLOCKS(...)                                                 \
    for (int b0 = 0; b0 < B; b0 += NTM_BL) {                        \
        if (B - b0 >= NTM_BL) { const int bl = NTM_BL; __VA_ARGS__ } \
        else { const int bl = B - b0; __VA_ARGS__ }                 \
    }
#define VL NTM_SIMD for (int l = 0; l < bl; l++)

typedef struct {
    int N, M, R, W, K, S, H, B;
    REAL *key, *add, *beta, *gamma, *g, *erase, *s; /* activated head parameters, (., B) */
    REAL *cos, *den, *wc, *wg, *u, *lu, *p, *w;    /* per head, (N, B) each */
    REAL *kn, *total;                              /* per head, (B) */
    REAL *gw, *gws, *gwg, *gnorm;                  /* backward scratch, (N, B) */
    REAL *gkey, *gbeta, *ggamma, *gg, *gs, *gerase, *gadd;
    REAL *gd;                                      /* dL/d(dots), per head, (N, B) */
    REAL *t0, *t1, *t2, *t3;                       /* (B) temporaries */
} FN(scratch_t);

static REAL *FN(scratch_init)(FN(scratch_t) *sc, int N, int M, int R, int W, int K, int B) {
    int H = R + W, S = 2 * K + 1;
    sc->N = N; sc->M = M; sc->R = R; sc->W = W; sc->K = K; sc->S = S; sc->H = H; sc->B = B;
    size_t n = (size_t)H * M + 3 * (size_t)W * M + 3 * (size_t)H + (size_t)H * S; /* activations */
    n += 8 * (size_t)H * N + 2 * (size_t)H;
    n += 4 * (size_t)N;
    n += (size_t)H * M + 3 * (size_t)H + (size_t)H * S + 2 * (size_t)W * M + (size_t)H * N;
    n += 4;
    REAL *base = (REAL *)malloc(n * (size_t)B * sizeof(REAL)); /* every use writes before it reads */
    REAL *q = base;
    if (!base) return NULL;
#define TAKE(ptr, count) do { sc->ptr = q; q += (size_t)(count) * B; } while (0)
    TAKE(key, H * M); TAKE(add, W * M); TAKE(beta, H); TAKE(gamma, H); TAKE(g, H);
    TAKE(erase, W * M); TAKE(s, H * S);
    TAKE(cos, H * N); TAKE(den, H * N); TAKE(wc, H * N); TAKE(wg, H * N); TAKE(u, H * N);
    TAKE(lu, H * N); TAKE(p, H * N); TAKE(w, H * N); TAKE(kn, H); TAKE(total, H);
    TAKE(gw, N); TAKE(gws, N); TAKE(gwg, N); TAKE(gnorm, N);
    TAKE(gkey, H * M); TAKE(gbeta, H); TAKE(ggamma, H); TAKE(gg, H); TAKE(gs, H * S);
    TAKE(gerase, W * M); TAKE(gadd, W * M); TAKE(gd, H * N);
    TAKE(t0, 1); TAKE(t1, 1); TAKE(t2, 1); TAKE(t3, 1);
#undef TAKE
    return base;
}

static inline REAL FN(sigm)(REAL x) { return (REAL)1 / ((REAL)1 + EXP(-x)); }
/* torch.nn.functional.softplus with its default threshold 20 */
static inline REAL FN(softplus)(REAL x) { return x > (REAL)20 ? x : LOG1P(EXP(x)); }
static inline int FN(wrap)(int i, int N) { i %= N; return i < 0 ? i + N : i; }

static void FN(activations)(FN(scratch_t) *sc, const ntm_rows_t *rows, const REAL *raw) {
    int M = sc->M, W = sc->W, S = sc->S, H = sc->H, B = NTM_B(sc->B);
    const REAL *rk = raw + (size_t)rows->key * B, *ra = raw + (size_t)rows->add * B, *rb = raw + (size_t)rows->beta * B;
    const REAL *rgm = raw + (size_t)rows->gamma * B, *rg = raw + (size_t)rows->g * B, *re = raw + (size_t)rows->erase * B;
    const REAL *sh = raw + (size_t)rows->s * B;
    NTM_SIMD
    for (size_t i = 0; i < (size_t)H * M * B; i++) sc->key[i] = TANH(rk[i]);
    NTM_SIMD
    for (size_t i = 0; i < (size_t)W * M * B; i++) sc->add[i] = TANH(ra[i]);
    NTM_SIMD
    for (size_t i = 0; i < (size_t)H * B; i++) {
        sc->beta[i] = FN(softplus)(rb[i]);
        sc->gamma[i] = (REAL)1 + FN(softplus)(rgm[i]);
        sc->g[i] = FN(sigm)(rg[i]);
    }
    NTM_SIMD
    for (size_t i = 0; i < (size_t)W * M * B; i++) sc->erase[i] = FN(sigm)(re[i]);
    for (int h = 0; h < H; h++) {
        const REAL *z = sh + (size_t)h * S * B;
        REAL *s = sc->s + (size_t)h * S * B, *mx = sc->t0, *tot = sc->t1;
        VB { mx[b] = z[b]; tot[b] = 0; }
        for (int q = 1; q < S; q++) VB mx[b] = z[q * B + b] > mx[b] ? z[q * B + b] : mx[b];
        for (int q = 0; q < S; q++) VB { s[q * B + b] = EXP(z[q * B + b] - mx[b]); tot[b] += s[q * B + b]; }
        for (int q = 0; q < S; q++) VB s[q * B + b] /= tot[b];
    }
}

/* eq. 5-9 for head h on memory mem (N, M, B) with row norms nrm (N, B); fills the
 * head's scratch (its weighting in sc->w). With have_cos, sc->cos already holds the
 * cosine similarities (saved by the forward pass) and mem is not read. */
static void FN(address)(FN(scratch_t) *sc, int h, const REAL *mem, const REAL *nrm, const REAL *wprev, int have_cos) {
    int N = sc->N, M = sc->M, K = sc->K, S = sc->S, B = NTM_B(sc->B);
    size_t NB = (size_t)N * B;
    const REAL *key = sc->key + (size_t)h * M * B, *s = sc->s + (size_t)h * S * B;
    const REAL *beta = sc->beta + (size_t)h * B, *g = sc->g + (size_t)h * B, *gamma = sc->gamma + (size_t)h * B;
    REAL *cos = sc->cos + h * NB, *den = sc->den + h * NB, *wc = sc->wc + h * NB, *wg = sc->wg + h * NB;
    REAL *u = sc->u + h * NB, *lu = sc->lu + h * NB, *p = sc->p + h * NB, *w = sc->w + h * NB;
    REAL *kn = sc->kn + (size_t)h * B, *total = sc->total + (size_t)h * B, *mx = sc->t0, *tot = sc->t1;
    VB kn[b] = 0;
    for (int j = 0; j < M; j++) VB kn[b] += key[j * B + b] * key[j * B + b];
    VB { kn[b] = SQRT(kn[b]); mx[b] = -INFINITY; tot[b] = 0; }
    for (int i = 0; i < N; i++) {
        const REAL *row = mem + (size_t)i * M * B;
        REAL *c = cos + (size_t)i * B, *dn = den + (size_t)i * B;
        VB dn[b] = nrm[(size_t)i * B + b] * kn[b] + (REAL)NTM_EPS;
        if (!have_cos) {
            BLOCKS(
                REAL acc[NTM_BL];
                VL acc[l] = 0;
                for (int j = 0; j < M; j++) VL acc[l] += key[j * B + b0 + l] * row[j * B + b0 + l];
                VL c[b0 + l] = acc[l] / dn[b0 + l];
            )
        }
        VB {
            REAL z = beta[b] * c[b];
            mx[b] = z > mx[b] ? z : mx[b];
        }
    }
    for (int i = 0; i < N; i++) VB {
        REAL e = EXP(beta[b] * cos[(size_t)i * B + b] - mx[b]);
        wc[(size_t)i * B + b] = e;
        tot[b] += e;
    }
    for (int i = 0; i < N; i++) VB {
        size_t f = (size_t)i * B + b;
        wc[f] /= tot[b];
        wg[f] = wprev[f] + g[b] * (wc[f] - wprev[f]);
    }
    /* eq. 8: circular convolution with the shift distribution */
    for (int i = 0; i < N; i++) {
        REAL *ui = u + (size_t)i * B;
        VB ui[b] = 0;
        for (int q = 0; q < S; q++) {
            const REAL *src = wg + (size_t)FN(wrap)(i - K + q, N) * B, *sq = s + (size_t)q * B;
            VB ui[b] += sq[b] * src[b];
        }
    }
    VB { tot[b] = 0; mx[b] = -INFINITY; }
    for (int i = 0; i < N; i++) VB {
        size_t f = (size_t)i * B + b;
        u[f] += (REAL)NTM_EPS;
        lu[f] = LOG(u[f]);
        mx[b] = lu[f] > mx[b] ? lu[f] : mx[b];
    }
    /* (u / max u) ** gamma: the same weighting once normalised, without the underflow
     * of u ** gamma to 0 on every row (0 / 0) when u is flat and gamma large. The
     * backward pass needs p / total and log u only, which the shift leaves as they were. */
    for (int i = 0; i < N; i++) VB {
        size_t f = (size_t)i * B + b;
        p[f] = EXP(gamma[b] * (lu[f] - mx[b]));
        tot[b] += p[f];
    }
    VB total[b] = tot[b];
    for (int i = 0; i < N; i++) VB w[(size_t)i * B + b] = p[(size_t)i * B + b] / total[b];
}

/* Backward of address() for head h given sc->gw = dL/dw (N, B), except the pass over
 * the memory (mem_bwd_pass): writes dL/dw_prev to gwprev (N, B), dL/d(dots) to sc->gd,
 * the head's parameter gradients (the key's without its dots term) into the scratch,
 * and accumulates dL/d(row norms) into sc->gnorm. */
static void FN(address_bwd)(FN(scratch_t) *sc, int h, const REAL *nrm, const REAL *wprev, REAL *gwprev) {
    int N = sc->N, M = sc->M, K = sc->K, S = sc->S, B = NTM_B(sc->B);
    size_t NB = (size_t)N * B;
    const REAL *key = sc->key + (size_t)h * M * B, *s = sc->s + (size_t)h * S * B;
    const REAL *beta = sc->beta + (size_t)h * B, *g = sc->g + (size_t)h * B, *gamma = sc->gamma + (size_t)h * B;
    const REAL *kn = sc->kn + (size_t)h * B, *total = sc->total + (size_t)h * B;
    const REAL *cos = sc->cos + h * NB, *den = sc->den + h * NB, *wc = sc->wc + h * NB, *wg = sc->wg + h * NB;
    const REAL *u = sc->u + h * NB, *lu = sc->lu + h * NB, *p = sc->p + h * NB, *w = sc->w + h * NB;
    REAL *gw = sc->gw, *gws = sc->gws, *gwg = sc->gwg, *gnorm = sc->gnorm;
    REAL *gs = sc->gs + (size_t)h * S * B, *gkey = sc->gkey + (size_t)h * M * B;
    REAL *ggamma = sc->ggamma + (size_t)h * B, *gg = sc->gg + (size_t)h * B, *gbeta = sc->gbeta + (size_t)h * B;
    REAL *dot = sc->t0, *sdot = sc->t1, *gkn = sc->t2, *gd = sc->gd + h * NB;
    /* eq. 9 */
    VB { dot[b] = 0; ggamma[b] = 0; gg[b] = 0; sdot[b] = 0; gbeta[b] = 0; gkn[b] = 0; }
    for (int i = 0; i < N; i++) VB dot[b] += gw[(size_t)i * B + b] * w[(size_t)i * B + b];
    for (int i = 0; i < N; i++) VB {
        size_t f = (size_t)i * B + b;
        REAL gp = (gw[f] - dot[b]) / total[b] * p[f];
        ggamma[b] += gp * lu[f];
        gws[f] = gp * gamma[b] / u[f];
    }
    /* eq. 8: the adjoint of the circular convolution, and the kernel's gradient */
    for (int q = 0; q < S; q++) VB gs[q * B + b] = 0;
    for (int i = 0; i < N; i++) {
        REAL *gi = gwg + (size_t)i * B;
        const REAL *gsi = gws + (size_t)i * B;
        VB gi[b] = 0;
        for (int q = 0; q < S; q++) {
            const REAL *sq = s + (size_t)q * B, *a = gws + (size_t)FN(wrap)(i + K - q, N) * B;
            const REAL *c = wg + (size_t)FN(wrap)(i - K + q, N) * B;
            REAL *gq = gs + (size_t)q * B;
            VB {
                gi[b] += sq[b] * a[b];
                gq[b] += gsi[b] * c[b];
            }
        }
    }
    /* eq. 7 */
    for (int i = 0; i < N; i++) VB {
        size_t f = (size_t)i * B + b;
        gg[b] += gwg[f] * (wc[f] - wprev[f]);
        REAL gwc = gwg[f] * g[b];
        gwprev[f] = gwg[f] - gwc;
        gws[f] = gwc; /* reused: dL/dw_c */
        sdot[b] += gwc * wc[f];
    }
    /* eq. 5-6: softmax of beta * cos, cos = dots / (|M_i| |k| + eps) */
    for (int i = 0; i < N; i++) VB {
        size_t f = (size_t)i * B + b;
        REAL gz = wc[f] * (gws[f] - sdot[b]);
        gbeta[b] += gz * cos[f];
        REAL d = gz * beta[b] / den[f];
        REAL gden = -d * cos[f];
        gkn[b] += gden * nrm[f];
        gnorm[f] += gden * kn[b];
        gd[f] = d;
    }
    VB gkn[b] = gkn[b] / (kn[b] > (REAL)1e-30 ? kn[b] : (REAL)1e-30);
    for (int j = 0; j < M; j++) VB gkey[j * B + b] = gkn[b] * key[j * B + b];
}

/* The memory pass of the backward for heads h0..h1-1 addressing mem (N, M, B) with
 * row norms nrm: gkey_h += sum_i gd_h(i) row_i; gmem_i += sum_h gd_h(i) key_h +
 * gnorm(i) / |row_i| row_i; and, with reads (for the read heads), also
 * gmem_i += sum_h w_h(i) g_reads_h: every term of dL/dmem in one pass. */
static void FN(mem_bwd_pass)(FN(scratch_t) *sc, int h0, int h1, const REAL *mem, const REAL *nrm, REAL *gmem, const REAL *g_reads) {
    int N = sc->N, M = sc->M, B = NTM_B(sc->B);
    size_t NB = (size_t)N * B;
    REAL *c = sc->t0;
    for (int i = 0; i < N; i++) {
        const REAL *row = mem + (size_t)i * M * B, *ni = nrm + (size_t)i * B, *gi = sc->gnorm + (size_t)i * B;
        REAL *grow = gmem + (size_t)i * M * B;
        VB c[b] = ni[b] > 0 ? gi[b] / ni[b] : 0;
        if (h1 - h0 == 1) {
            const REAL *gd = sc->gd + h0 * NB + (size_t)i * B, *key = sc->key + (size_t)h0 * M * B;
            REAL *gkey = sc->gkey + (size_t)h0 * M * B;
            const REAL *w = sc->w + h0 * NB + (size_t)i * B, *gr = g_reads;
            for (int j = 0; j < M; j++) {
                if (g_reads) {
                    VB {
                        gkey[j * B + b] += gd[b] * row[j * B + b];
                        grow[j * B + b] += gd[b] * key[j * B + b] + c[b] * row[j * B + b] + w[b] * gr[j * B + b];
                    }
                } else {
                    VB {
                        gkey[j * B + b] += gd[b] * row[j * B + b];
                        grow[j * B + b] += gd[b] * key[j * B + b] + c[b] * row[j * B + b];
                    }
                }
            }
        } else {
            for (int j = 0; j < M; j++) {
                VB grow[j * B + b] += c[b] * row[j * B + b];
                for (int h = h0; h < h1; h++) {
                    const REAL *gd = sc->gd + h * NB + (size_t)i * B, *key = sc->key + (size_t)h * M * B;
                    REAL *gkey = sc->gkey + (size_t)h * M * B;
                    VB {
                        gkey[j * B + b] += gd[b] * row[j * B + b];
                        grow[j * B + b] += gd[b] * key[j * B + b];
                    }
                    if (g_reads) {
                        const REAL *w = sc->w + h * NB + (size_t)i * B, *gr = g_reads + (size_t)(h - h0) * M * B;
                        VB grow[j * B + b] += w[b] * gr[j * B + b];
                    }
                }
            }
        }
    }
}

/* One step for B sequences: mem_prev (N, M, B) with row norms norm_prev (N, B) and
 * weightings w_prev (H, N, B) -> mem_new, norm_new, w_new and the reads (R*M, B); the
 * cosine similarities go to cos_out (H, N, B) if not NULL (the backward reuses them).
 * Returns non-zero if scratch memory could not be allocated. */
int FN(ntm_mem_fwd)(int B, int N, int M, int R, int W, int K, const ntm_rows_t *rows, const REAL *raw, const REAL *mem_prev,
                    const REAL *norm_prev, const REAL *w_prev, REAL *mem_new, REAL *norm_new, REAL *w_new, REAL *reads, REAL *cos_out) {
    B = NTM_B(B);
    FN(scratch_t) sc;
    REAL *base = FN(scratch_init)(&sc, N, M, R, W, K, B);
    if (!base) return 1;
    if (cos_out) sc.cos = cos_out;
    int H = R + W;
    size_t NB = (size_t)N * B;
    REAL *ss = sc.t2;
    FN(activations)(&sc, rows, raw);
    /* write heads address the memory as it was */
    for (int h = R; h < H; h++) {
        FN(address)(&sc, h, mem_prev, norm_prev, w_prev + h * NB, 0);
        memcpy(w_new + h * NB, sc.w + h * NB, sizeof(REAL) * NB);
    }
    const REAL *ww = sc.w + (size_t)R * NB;
    for (int i = 0; i < N; i++) {
        const REAL *row = mem_prev + (size_t)i * M * B, *wi = ww + (size_t)i * B;
        REAL *out = mem_new + (size_t)i * M * B;
        if (W == 1) {
            BLOCKS(
                REAL acc[NTM_BL];
                const REAL *wl = wi + b0;
                VL acc[l] = 0;
                for (int j = 0; j < M; j++) {
                    const REAL *e = sc.erase + (size_t)j * B + b0, *a = sc.add + (size_t)j * B + b0, *r = row + (size_t)j * B + b0;
                    REAL *o = out + (size_t)j * B + b0;
                    VL {
                        REAL v = r[l] * ((REAL)1 - wl[l] * e[l]) + wl[l] * a[l];
                        o[l] = v;
                        acc[l] += v * v;
                    }
                }
                VL ss[b0 + l] = acc[l];
            )
        } else {
            VB ss[b] = 0;
            for (int j = 0; j < M; j++) {
                const REAL *e = sc.erase + (size_t)j * B, *a = sc.add + (size_t)j * B;
                const REAL *r = row + (size_t)j * B;
                REAL *o = out + (size_t)j * B;
                VB {
                    REAL keep = 1, added = 0;
                    for (int v = 0; v < W; v++) {
                        REAL wv = ww[(size_t)v * NB + (size_t)i * B + b];
                        keep *= (REAL)1 - wv * e[(size_t)v * M * B + b];
                        added += wv * a[(size_t)v * M * B + b];
                    }
                    REAL val = r[b] * keep + added;
                    o[b] = val;
                    ss[b] += val * val;
                }
            }
        }
        REAL *ni = norm_new + (size_t)i * B;
        VB ni[b] = SQRT(ss[b]);
    }
    /* read heads see the memory after the write */
    for (int h = 0; h < R; h++) {
        FN(address)(&sc, h, mem_new, norm_new, w_prev + h * NB, 0);
        const REAL *w = sc.w + h * NB;
        memcpy(w_new + h * NB, w, sizeof(REAL) * NB);
        REAL *r = reads + (size_t)h * M * B;
        memset(r, 0, sizeof(REAL) * M * B);
        for (int i = 0; i < N; i++) {
            const REAL *row = mem_new + (size_t)i * M * B, *wi = w + (size_t)i * B;
            for (int j = 0; j < M; j++) VB r[j * B + b] += wi[b] * row[j * B + b];
        }
    }
    free(base);
    return 0;
}

/* Backward of ntm_mem_fwd for one step, given its cosine similarities cos (H, N, B).
 * In: g_reads (R*M, B), g_mem = dL/dmem_new and g_w = dL/dw_new; out, in place:
 * g_mem = dL/dmem_prev and g_w = dL/dw_prev; and g_raw (P, B) = dL/draw. Four passes
 * over the memory-sized arrays: the reads' weight gradients, then all of dL/dmem_new,
 * the write, then the write heads' addressing. Returns non-zero if scratch memory
 * could not be allocated. */
int FN(ntm_mem_bwd)(int B, int N, int M, int R, int W, int K, const ntm_rows_t *rows, const REAL *raw, const REAL *mem_prev,
                    const REAL *norm_prev, const REAL *w_prev, const REAL *mem_new, const REAL *norm_new, const REAL *cos, const REAL *g_reads,
                    REAL *g_mem, REAL *g_w, REAL *g_raw) {
    B = NTM_B(B);
    FN(scratch_t) sc;
    REAL *base = FN(scratch_init)(&sc, N, M, R, W, K, B);
    if (!base) return 1;
    sc.cos = (REAL *)cos; /* read only below: address() with have_cos */
    int H = R + W, S = sc.S;
    size_t NB = (size_t)N * B;
    FN(activations)(&sc, rows, raw);
    for (int h = R; h < H; h++) FN(address)(&sc, h, mem_prev, norm_prev, w_prev + h * NB, 1);
    for (int h = 0; h < R; h++) FN(address)(&sc, h, mem_new, norm_new, w_prev + h * NB, 1);
    /* reads: dL/dw_read, then the read addressing's coefficients */
    memset(sc.gnorm, 0, sizeof(REAL) * NB);
    for (int h = 0; h < R; h++) {
        const REAL *gr = g_reads + (size_t)h * M * B;
        REAL *gwh = g_w + h * NB;
        for (int i = 0; i < N; i++) {
            const REAL *row = mem_new + (size_t)i * M * B, *gwhi = gwh + (size_t)i * B;
            REAL *gwi = sc.gw + (size_t)i * B;
            BLOCKS(
                REAL acc[NTM_BL];
                VL acc[l] = gwhi[b0 + l];
                for (int j = 0; j < M; j++) VL acc[l] += gr[j * B + b0 + l] * row[j * B + b0 + l];
                VL gwi[b0 + l] = acc[l];
            )
        }
        FN(address_bwd)(&sc, h, norm_new, w_prev + h * NB, gwh);
    }
    /* every term of dL/dmem_new: future steps (already in g_mem), reads, addressing, norms */
    FN(mem_bwd_pass)(&sc, 0, R, mem_new, norm_new, g_mem, g_reads);
    /* the write (eq. 3-4): g_mem becomes dL/dmem_prev */
    memset(sc.gerase, 0, sizeof(REAL) * W * M * B);
    memset(sc.gadd, 0, sizeof(REAL) * W * M * B);
    const REAL *ww = sc.w + (size_t)R * NB;
    for (int i = 0; i < N; i++) {
        const REAL *row = mem_prev + (size_t)i * M * B;
        REAL *grow = g_mem + (size_t)i * M * B;
        if (W == 1) {
            const REAL *wi = ww + (size_t)i * B;
            REAL *gwi = g_w + (size_t)R * NB + (size_t)i * B;
            BLOCKS(
                REAL acc[NTM_BL];
                VL acc[l] = gwi[b0 + l];
                for (int j = 0; j < M; j++) {
                    const REAL *e = sc.erase + (size_t)j * B + b0, *a = sc.add + (size_t)j * B + b0, *r = row + (size_t)j * B + b0;
                    REAL *ge = sc.gerase + (size_t)j * B + b0, *ga = sc.gadd + (size_t)j * B + b0, *gr = grow + (size_t)j * B + b0;
                    const REAL *wl = wi + b0;
                    VL {
                        REAL gij = gr[l];
                        acc[l] += gij * (a[l] - r[l] * e[l]);
                        ge[l] -= gij * r[l] * wl[l];
                        ga[l] += gij * wl[l];
                        gr[l] = gij * ((REAL)1 - wl[l] * e[l]);
                    }
                }
                VL gwi[b0 + l] = acc[l];
            )
        } else {
            for (int j = 0; j < M; j++) {
                const REAL *r = row + (size_t)j * B;
                REAL *gr = grow + (size_t)j * B;
                for (int v = 0; v < W; v++) {
                    const REAL *wi = ww + (size_t)v * NB + (size_t)i * B;
                    const REAL *e = sc.erase + (size_t)(v * M + j) * B, *a = sc.add + (size_t)(v * M + j) * B;
                    REAL *ge = sc.gerase + (size_t)(v * M + j) * B, *ga = sc.gadd + (size_t)(v * M + j) * B;
                    REAL *gwi = g_w + (size_t)(R + v) * NB + (size_t)i * B;
                    VB {
                        REAL others = 1;
                        for (int o = 0; o < W; o++)
                            if (o != v) others *= (REAL)1 - ww[(size_t)o * NB + (size_t)i * B + b] * sc.erase[(size_t)(o * M + j) * B + b];
                        REAL gij = gr[b];
                        gwi[b] += gij * (a[b] - r[b] * e[b] * others);
                        ge[b] -= gij * r[b] * wi[b] * others;
                        ga[b] += gij * wi[b];
                    }
                }
                VB {
                    REAL keep = 1;
                    for (int o = 0; o < W; o++) keep *= (REAL)1 - ww[(size_t)o * NB + (size_t)i * B + b] * sc.erase[(size_t)(o * M + j) * B + b];
                    gr[b] *= keep;
                }
            }
        }
    }
    /* the write heads' addressing, on mem_prev */
    memset(sc.gnorm, 0, sizeof(REAL) * NB);
    for (int h = R; h < H; h++) {
        REAL *gwh = g_w + h * NB;
        memcpy(sc.gw, gwh, sizeof(REAL) * NB);
        FN(address_bwd)(&sc, h, norm_prev, w_prev + h * NB, gwh);
    }
    FN(mem_bwd_pass)(&sc, R, H, mem_prev, norm_prev, g_mem, NULL);
    /* the activations */
    const REAL *rb = raw + (size_t)rows->beta * B, *rgm = raw + (size_t)rows->gamma * B;
    REAL *gk = g_raw + (size_t)rows->key * B, *ga = g_raw + (size_t)rows->add * B, *gb = g_raw + (size_t)rows->beta * B;
    REAL *ggm = g_raw + (size_t)rows->gamma * B, *gg = g_raw + (size_t)rows->g * B, *ge = g_raw + (size_t)rows->erase * B;
    REAL *gsh = g_raw + (size_t)rows->s * B;
    NTM_SIMD
    for (size_t i = 0; i < (size_t)H * M * B; i++) gk[i] = sc.gkey[i] * ((REAL)1 - sc.key[i] * sc.key[i]);
    NTM_SIMD
    for (size_t i = 0; i < (size_t)W * M * B; i++) ga[i] = sc.gadd[i] * ((REAL)1 - sc.add[i] * sc.add[i]);
    NTM_SIMD
    for (size_t i = 0; i < (size_t)H * B; i++) {
        gb[i] = sc.gbeta[i] * FN(sigm)(rb[i]);
        ggm[i] = sc.ggamma[i] * FN(sigm)(rgm[i]);
        gg[i] = sc.gg[i] * sc.g[i] * ((REAL)1 - sc.g[i]);
    }
    NTM_SIMD
    for (size_t i = 0; i < (size_t)W * M * B; i++) ge[i] = sc.gerase[i] * sc.erase[i] * ((REAL)1 - sc.erase[i]);
    for (int h = 0; h < H; h++) {
        const REAL *s = sc.s + (size_t)h * S * B, *gs = sc.gs + (size_t)h * S * B;
        REAL *dot = sc.t0, *out = gsh + (size_t)h * S * B;
        VB dot[b] = 0;
        for (int q = 0; q < S; q++) VB dot[b] += gs[q * B + b] * s[q * B + b];
        for (int q = 0; q < S; q++) VB out[q * B + b] = s[q * B + b] * (gs[q * B + b] - dot[b]);
    }
    free(base);
    return 0;
}

/* nn.LSTMCell's pointwise part over n = C * B values (gate blocks i, f, g, o of n
 * each), in place: gates become the activated gates; writes c_new and h. */
void FN(lstm_fwd)(int n, REAL *gates, const REAL *c_prev, REAL *c_new, REAL *h) {
    REAL *gi = gates, *gf = gi + n, *gg = gf + n, *go = gg + n;
    NTM_SIMD
    for (int k = 0; k < n; k++) {
        REAL i = FN(sigm)(gi[k]), f = FN(sigm)(gf[k]), g = TANH(gg[k]), o = FN(sigm)(go[k]);
        gi[k] = i; gf[k] = f; gg[k] = g; go[k] = o;
        REAL c = f * c_prev[k] + i * g;
        c_new[k] = c;
        h[k] = o * TANH(c);
    }
}

/* Backward: acts the activated gates, gh = dL/dh, gc in: dL/dc_new, out: dL/dc_prev;
 * writes g_gates, the pre-activation gradient (gate blocks as in lstm_fwd). */
void FN(lstm_bwd)(int n, const REAL *acts, const REAL *c_prev, const REAL *c_new, const REAL *gh, REAL *gc, REAL *g_gates) {
    const REAL *ai = acts, *af = ai + n, *ag = af + n, *ao = ag + n;
    REAL *gi = g_gates, *gf = gi + n, *gg = gf + n, *go = gg + n;
    NTM_SIMD
    for (int k = 0; k < n; k++) {
        REAL i = ai[k], f = af[k], g = ag[k], o = ao[k], tc = TANH(c_new[k]);
        REAL dc = gh[k] * o * ((REAL)1 - tc * tc) + gc[k];
        gi[k] = dc * g * i * ((REAL)1 - i);
        gf[k] = dc * c_prev[k] * f * ((REAL)1 - f);
        gg[k] = dc * i * ((REAL)1 - g * g);
        go[k] = gh[k] * tc * o * ((REAL)1 - o);
        gc[k] = dc * f;
    }
}


/* ------------------------------------------------------------------ whole sequences
 * The loops of fused.py's _run_forward / _FusedSequence.backward in C, with the matrix
 * products done by the BLAS torch itself loaded (its Fortran sgemm_ / dgemm_, looked
 * up and checked by fused.py), so a sequence is one call from Python instead of four
 * per step. Shapes as in fused.py: J = R*M + C, G = 4C (LSTM) or C, P head parameters. */
typedef void (*FN(gemm_t))(const char *ta, const char *tb, const int *m, const int *n, const int *k, const REAL *alpha,
                           const REAL *a, const int *lda, const REAL *b, const int *ldb, const REAL *beta, REAL *c, const int *ldc);

/* Row-major C (m x n) = op(A) op(B) + C; A is m x k after op, ta: 'N' or 'T'. A row-major
 * matrix is its transpose in column-major order, so this asks for C^T = op(B)^T op(A)^T. */
static void FN(gemm_rm)(FN(gemm_t) gemm, char ta, char tb, int m, int n, int k, const REAL *a, int lda, const REAL *b, int ldb,
                        REAL *c, int ldc) {
    const REAL one = 1;
    if (m <= 0 || n <= 0 || k <= 0) return; /* nothing to add (e.g. no read heads) */
    gemm(&tb, &ta, &n, &m, &k, &one, b, &ldb, a, &lda, &one, c, &ldc);
}

int FN(ntm_seq_fwd)(void *gemm_ptr, int T, int B, int N, int M, int R, int W, int K, int C, int lstm, int keep_all,
                    const ntm_rows_t *rows, const REAL *xg, const REAL *w_rec, const REAL *wp, const REAL *bp, REAL *X, REAL *mem,
                    REAL *norms, REAL *w, REAL *raw, REAL *acts, REAL *cs, REAL *cos) {
    FN(gemm_t) gemm = (FN(gemm_t))gemm_ptr;
    int H = R + W, RM = R * M, J = RM + C, G = lstm ? 4 * C : C, P = rows->P;
    size_t XB = (size_t)J * B, GB = (size_t)G * B, PB = (size_t)P * B, NMB = (size_t)N * M * B, NB = (size_t)N * B;
    size_t HNB = (size_t)H * N * B, CB = (size_t)C * B;
    for (int t = 0; t < T; t++) {
        REAL *gates = acts + t * GB, *Xt = X + t * XB, *Xn = X + (t + 1) * XB, *h = Xn + (size_t)RM * B;
        memcpy(gates, xg + t * GB, sizeof(REAL) * GB);
        if (lstm) {
            FN(gemm_rm)(gemm, 'N', 'N', G, B, J, w_rec, J, Xt, B, gates, B);
            FN(lstm_fwd)(C * B, gates, cs + t * CB, cs + (t + 1) * CB, h);
        } else {
            FN(gemm_rm)(gemm, 'N', 'N', G, B, RM, w_rec, RM, Xt, B, gates, B);
            NTM_SIMD
            for (size_t f = 0; f < CB; f++) h[f] = TANH(gates[f]);
        }
        REAL *rt = raw + t * PB;
        for (int p = 0; p < P; p++) {
            REAL v = bp[p];
            for (int b = 0; b < B; b++) rt[(size_t)p * B + b] = v;
        }
        FN(gemm_rm)(gemm, 'N', 'N', P, B, C, wp, C, h, B, rt, B);
        int i = keep_all ? t : t % 2, j = keep_all ? t + 1 : (t + 1) % 2;
        int rc = FN(ntm_mem_fwd)(B, N, M, R, W, K, rows, rt, mem + i * NMB, norms + i * NB, w + i * HNB, mem + j * NMB,
                                 norms + j * NB, w + j * HNB, Xn, cos ? cos + t * HNB : NULL);
        if (rc) return rc;
    }
    return 0;
}

int FN(ntm_seq_bwd)(void *gemm_ptr, int T, int B, int N, int M, int R, int W, int K, int C, int lstm, const ntm_rows_t *rows,
                    const REAL *w_rec, const REAL *wp, const REAL *X, const REAL *mem, const REAL *norms, const REAL *w, const REAL *raw,
                    const REAL *acts, const REAL *cs, const REAL *cos, REAL *gX, REAL *g_mem, REAL *g_w, REAL *gc, REAL *g_raw,
                    REAL *g_gates) {
    FN(gemm_t) gemm = (FN(gemm_t))gemm_ptr;
    int H = R + W, RM = R * M, J = RM + C, G = lstm ? 4 * C : C, P = rows->P;
    size_t XB = (size_t)J * B, GB = (size_t)G * B, PB = (size_t)P * B, NMB = (size_t)N * M * B, NB = (size_t)N * B;
    size_t HNB = (size_t)H * N * B, CB = (size_t)C * B;
    for (int t = T - 1; t >= 0; t--) {
        REAL *gXn = gX + (t + 1) * XB, *gh = gXn + (size_t)RM * B, *grt = g_raw + t * PB, *gg = g_gates + t * GB;
        int rc = FN(ntm_mem_bwd)(B, N, M, R, W, K, rows, raw + t * PB, mem + t * NMB, norms + t * NB, w + t * HNB,
                                 mem + (t + 1) * NMB, norms + (t + 1) * NB, cos + t * HNB, gXn, g_mem, g_w, grt);
        if (rc) return rc;
        FN(gemm_rm)(gemm, 'T', 'N', C, B, P, wp, C, grt, B, gh, B); /* gh += wp^T g_raw */
        if (lstm) {
            FN(lstm_bwd)(C * B, acts + t * GB, cs + t * CB, cs + (t + 1) * CB, gh, gc, gg);
            FN(gemm_rm)(gemm, 'T', 'N', J, B, G, w_rec, J, gg, B, gX + t * XB, B);
        } else {
            const REAL *h = X + (t + 1) * XB + (size_t)RM * B;
            NTM_SIMD
            for (size_t f = 0; f < CB; f++) gg[f] = gh[f] * ((REAL)1 - h[f] * h[f]);
            FN(gemm_rm)(gemm, 'T', 'N', RM, B, G, w_rec, RM, gg, B, gX + t * XB, B);
        }
    }
    return 0;
}
