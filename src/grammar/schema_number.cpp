// Numbers of a JSON Schema: exact decimals for the bounds, and an automaton over the digits of a JSON number
// that compares it with the bounds digit by digit (and keeps its remainder for multipleOf). Bounded numbers
// are written without exponent, with at most 15 significant digits: any two such decimals are distinct
// doubles, so a value the automaton puts strictly above a bound stays strictly above it once a validator
// reads it as a double.
#include <charconv>

#include "grammar/schema_internal.h"

namespace berth::schema {

std::optional<Decimal> to_decimal(const Json& v) {
    if (!v.is_number()) return std::nullopt;
    std::string text;
    if (v.is_number_unsigned()) {
        text = std::to_string(v.get<uint64_t>());
    } else if (v.is_number_integer()) {
        text = std::to_string(v.get<int64_t>());
    } else {
        text = v.dump();  // shortest round-trip form, e.g. "0.1", "1e+20", "1.5e-07"
    }
    Decimal d;
    size_t i = 0;
    if (i < text.size() && text[i] == '-') d.neg = true, ++i;
    std::string digits;
    int exp10 = 0;
    bool dot = false;
    for (; i < text.size() && text[i] != 'e' && text[i] != 'E'; ++i) {
        if (text[i] == '.') {
            dot = true;
        } else if (text[i] >= '0' && text[i] <= '9') {
            digits += text[i];
            if (dot) --exp10;
        } else {
            return std::nullopt;
        }
    }
    if (i < text.size()) {
        int e = 0;
        const char* b = text.data() + i + 1;
        if (*b == '+') ++b;
        auto [p, ec] = std::from_chars(b, text.data() + text.size(), e);
        if (ec != std::errc() || std::abs(e) > 400) return std::nullopt;
        exp10 += e;
    }
    // value = digits × 10^exp10
    if (exp10 >= 0) {
        d.int_digits = digits + std::string(size_t(exp10), '0');
        d.frac.clear();
    } else {
        const long pos = long(digits.size()) + exp10;
        if (pos <= 0) {
            d.int_digits = "0";
            d.frac = std::string(size_t(-pos), '0') + digits;
        } else {
            d.int_digits = digits.substr(0, size_t(pos));
            d.frac = digits.substr(size_t(pos));
        }
    }
    size_t nz = d.int_digits.find_first_not_of('0');
    d.int_digits = nz == std::string::npos ? "0" : d.int_digits.substr(nz);
    while (!d.frac.empty() && d.frac.back() == '0') d.frac.pop_back();
    if (d.is_zero()) d.neg = false;
    return d;
}

namespace {

int compare_magnitude(const Decimal& a, const Decimal& b) {
    if (a.int_digits.size() != b.int_digits.size()) return a.int_digits.size() < b.int_digits.size() ? -1 : 1;
    if (int c = a.int_digits.compare(b.int_digits)) return c < 0 ? -1 : 1;
    const size_t n = std::max(a.frac.size(), b.frac.size());
    for (size_t i = 0; i < n; ++i) {
        char x = i < a.frac.size() ? a.frac[i] : '0', y = i < b.frac.size() ? b.frac[i] : '0';
        if (x != y) return x < y ? -1 : 1;
    }
    return 0;
}

}  // namespace

int compare(const Decimal& a, const Decimal& b) {
    if (a.neg != b.neg) return a.neg ? -1 : 1;
    int c = compare_magnitude(a, b);
    return a.neg ? -c : c;
}

namespace {

constexpr int kMaxDigits = 15;       // significant digits of a bounded number
constexpr int kMaxMultiple = 10000;  // multipleOf's integer part after scaling (automaton states)

enum Cmp : uint8_t { kLess = 0, kEqual = 1, kGreater = 2 };

Cmp cmp_digit(char a, char b) { return a < b ? kLess : a > b ? kGreater : kEqual; }

// Non-negative magnitudes m with lo (≥ 0) ≤ m ≤ hi (each optional, maybe strict) and m × 10^s ≡ 0 (mod c).
struct Magnitude {
    std::optional<Decimal> lo, hi;
    bool lo_excl = false, hi_excl = false;
    bool integer = false;
    int c = 0, s = 0;  // multipleOf = c × 10^-s (c = 0: none)
};

enum Phase : uint8_t { kStart, kInt, kZero, kDot, kFrac };

struct State {
    Phase phase = kStart;
    uint8_t k = 0, j = 0, sig = 0;  // integer digits, fraction digits, significant digits
    Cmp cl = kEqual, ch = kEqual;   // against lo / hi so far (integer part: as if of equal length)
    int r = 0;                      // remainder mod c
    uint64_t key() const {
        return uint64_t(phase) | uint64_t(k) << 3 | uint64_t(j) << 8 | uint64_t(sig) << 13 | uint64_t(cl) << 18 |
               uint64_t(ch) << 20 | uint64_t(r) << 22;
    }
};

// The final comparison of the integer part (k digits, compared so far `c`) with a bound's.
Cmp resolve_int(const State& st, Cmp c, const Decimal& bound) {
    if (st.phase == kZero) return bound.int_digits == "0" ? kEqual : kLess;
    const size_t len = bound.int_digits.size();
    return st.k > len ? kGreater : st.k < len ? kLess : c;
}

int pow10_mod(int e, int c) {
    int v = 1 % c;
    for (int i = 0; i < e; ++i) v = v * 10 % c;
    return v;
}

Result<ByteDfa> magnitude_dfa(const Magnitude& mg) {
    const int max_frac = mg.integer ? 0 : mg.c ? std::min(mg.s, kMaxDigits) : kMaxDigits;
    ByteDfa d;
    std::unordered_map<uint64_t, int> ids;
    std::vector<State> states;
    auto accepting = [&](const State& st) {
        if (st.phase != kInt && st.phase != kZero && st.phase != kFrac) return false;
        if (mg.lo) {
            Cmp c = st.phase == kFrac ? st.cl : resolve_int(st, st.cl, *mg.lo);
            if (c == kEqual && st.j < mg.lo->frac.size()) c = kLess;  // the bound has more nonzero digits
            if (!(c == kGreater || (c == kEqual && !mg.lo_excl))) return false;
        }
        if (mg.hi) {
            Cmp c = st.phase == kFrac ? st.ch : resolve_int(st, st.ch, *mg.hi);
            if (c == kEqual && st.j < mg.hi->frac.size()) c = kLess;
            if (!(c == kLess || (c == kEqual && !mg.hi_excl))) return false;
        }
        if (mg.c) return st.r * pow10_mod(mg.s - st.j, mg.c) % mg.c == 0;
        return true;
    };
    auto intern = [&](const State& st) -> int {
        auto [it, fresh] = ids.emplace(st.key(), d.n_states());
        if (fresh) {
            d.add_state(accepting(st));
            states.push_back(st);
        }
        return it->second;
    };
    intern(State{});
    for (size_t i = 0; i < states.size(); ++i) {
        if (states.size() > 50000) return invalid_argument("format: the number constraints need too many states");
        const State st = states[i];
        auto digit_step = [&](int dgt) -> std::optional<State> {
            State n = st;
            const char ch = char('0' + dgt);
            if (mg.c) n.r = (st.r * 10 + dgt) % mg.c;
            switch (st.phase) {
                case kStart:
                    if (dgt == 0) {
                        n.phase = kZero;
                        n.k = 1;
                        return n;
                    }
                    n.phase = kInt;
                    n.k = 1;
                    n.sig = 1;
                    if (mg.lo) n.cl = cmp_digit(ch, mg.lo->int_digits[0]);
                    if (mg.hi) n.ch = cmp_digit(ch, mg.hi->int_digits[0]);
                    break;
                case kInt:
                    if (st.k >= kMaxDigits || st.sig >= kMaxDigits) return std::nullopt;
                    n.k = uint8_t(st.k + 1);
                    n.sig = uint8_t(st.sig + 1);
                    if (mg.lo && st.cl == kEqual && n.k <= mg.lo->int_digits.size())
                        n.cl = cmp_digit(ch, mg.lo->int_digits[n.k - 1]);
                    if (mg.hi && st.ch == kEqual && n.k <= mg.hi->int_digits.size())
                        n.ch = cmp_digit(ch, mg.hi->int_digits[n.k - 1]);
                    break;
                case kZero: return std::nullopt;  // no leading zeros
                case kDot:
                case kFrac: {
                    if (st.j >= max_frac) return std::nullopt;
                    n.phase = kFrac;
                    n.j = uint8_t(st.j + 1);
                    if (st.sig > 0 || dgt != 0) n.sig = uint8_t(st.sig + 1);
                    if (n.sig > kMaxDigits) return std::nullopt;
                    if (mg.lo && st.cl == kEqual)
                        n.cl = cmp_digit(ch, st.j < mg.lo->frac.size() ? mg.lo->frac[st.j] : '0');
                    if (mg.hi && st.ch == kEqual)
                        n.ch = cmp_digit(ch, st.j < mg.hi->frac.size() ? mg.hi->frac[st.j] : '0');
                    if (n.cl == kLess || n.ch == kGreater) return std::nullopt;  // decided for good
                    return n;
                }
            }
            // Integer part: more digits only make it larger, so exceeding hi is final.
            if (mg.hi && (n.k > mg.hi->int_digits.size() || (n.k == mg.hi->int_digits.size() && n.ch == kGreater)))
                return std::nullopt;
            return n;
        };
        for (int dgt = 0; dgt <= 9; ++dgt) {
            std::optional<State> n = digit_step(dgt);
            if (!n) continue;
            int to = intern(*n);
            d.add(int(i), uint8_t('0' + dgt), uint8_t('0' + dgt), to);
        }
        if ((st.phase == kInt || st.phase == kZero) && max_frac > 0) {
            State n = st;
            n.phase = kDot;
            if (mg.lo) n.cl = resolve_int(st, st.cl, *mg.lo);
            if (mg.hi) n.ch = resolve_int(st, st.ch, *mg.hi);
            if (n.cl != kLess && n.ch != kGreater) d.add(int(i), '.', '.', intern(n));
        }
    }
    return d;
}

// Whether a final state can be reached from the start.
bool nonempty(const ByteDfa& d) {
    std::vector<uint8_t> seen(static_cast<size_t>(d.n_states()), 0);
    std::vector<int> work{0};
    seen[0] = 1;
    while (!work.empty()) {
        int s = work.back();
        work.pop_back();
        if (d.final[size_t(s)]) return true;
        for (auto& e : d.edges[size_t(s)])
            if (!seen[size_t(e.to)]) seen[size_t(e.to)] = 1, work.push_back(e.to);
    }
    return false;
}

Decimal negated(Decimal d) {
    if (!d.is_zero()) d.neg = !d.neg;
    return d;
}

}  // namespace

Result<int> number_node(GrammarBuilder::Impl& b, const NumberBounds& n, const std::string& path) {
    if (!n.lo && !n.hi && !n.multiple_of) {
        if (!n.integer) return b.json_number();
        int digit = b.bytes({{'0', '9'}});
        int integer = b.alt({b.byte('0'), b.seq({b.bytes({{'1', '9'}}), b.repeat(digit, 0, 15)})});
        return b.seq({b.alt({b.empty(), b.byte('-')}), integer});
    }
    Magnitude base;
    base.integer = n.integer;
    if (n.multiple_of) {
        const Decimal& m = *n.multiple_of;
        std::string digits = (m.int_digits == "0" ? "" : m.int_digits) + m.frac;
        size_t nz = digits.find_first_not_of('0');
        digits = nz == std::string::npos ? "0" : digits.substr(nz);
        if (digits.size() > 5 || std::stoi(digits) > kMaxMultiple || m.frac.size() > 6) {
            return error("\"multipleOf\"%s: only multiples of up to %d × 10^-6 are supported", at(path).c_str(),
                         kMaxMultiple);
        }
        base.c = std::stoi(digits);
        base.s = int(m.frac.size());
    }
    std::vector<int> options;
    // x ≥ 0: magnitude in [max(lo, 0), hi].
    if (!n.hi || !n.hi->neg) {
        Magnitude p = base;
        if (n.lo && !n.lo->neg) p.lo = n.lo, p.lo_excl = n.lo_excl;
        if (n.hi) p.hi = n.hi, p.hi_excl = n.hi_excl;
        ASSIGN_OR_RETURN(ByteDfa d, magnitude_dfa(p));
        if (nonempty(d)) options.push_back(b.automaton(std::move(d)));
    }
    // x < 0: magnitude m = -x in (max(-hi, 0), -lo]; never "-0".
    if (!n.lo || n.lo->neg) {
        Magnitude q = base;
        if (n.hi && n.hi->neg) {
            q.lo = negated(*n.hi), q.lo_excl = n.hi_excl;
        } else {
            q.lo = Decimal{}, q.lo_excl = true;
        }
        if (n.lo) q.hi = negated(*n.lo), q.hi_excl = n.lo_excl;
        ASSIGN_OR_RETURN(ByteDfa d, magnitude_dfa(q));
        if (nonempty(d)) options.push_back(b.seq({b.byte('-'), b.automaton(std::move(d))}));
    }
    return b.alt(std::move(options));
}

}  // namespace berth::schema
