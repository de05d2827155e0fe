/* Caravan guest runtime: a tiny printf.
 *
 * Conversions: %d %i %u %x %X %c %s %p %%
 * Flags: '-' (left-justify), '0' (zero-pad); width: digits or '*'.
 * Length modifiers: l, ll, z (all integers are handled as 64-bit anyway,
 * "int" arguments are narrowed as C requires).
 * %p prints 0x followed by the address in lower-case hex.
 */
#include "rt.h"

struct sink {
    char *buf;      /* NULL: write to the console */
    size_t size;
    size_t len;     /* characters produced so far */
};

static void out(struct sink *s, char c)
{
    if (!s->buf)
        rt_putc(c);
    else if (s->len + 1 < s->size)
        s->buf[s->len] = c;
    s->len++;
}

static void pad(struct sink *s, char c, int n)
{
    while (n-- > 0)
        out(s, c);
}

static int format(struct sink *s, const char *fmt, va_list ap)
{
    char tmp[24];
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            out(s, *fmt);
            continue;
        }
        fmt++;
        int left = 0, zero = 0, width = 0, lng = 0;
        for (;; fmt++) {
            if (*fmt == '-')
                left = 1;
            else if (*fmt == '0')
                zero = 1;
            else
                break;
        }
        if (*fmt == '*') {
            width = va_arg(ap, int);
            if (width < 0) {
                left = 1;
                width = -width;
            }
            fmt++;
        } else {
            while (*fmt >= '0' && *fmt <= '9')
                width = width * 10 + (*fmt++ - '0');
        }
        while (*fmt == 'l' || *fmt == 'z') {
            lng++;
            fmt++;
        }
        if (left)
            zero = 0;

        char conv = *fmt;
        const char *str;
        int slen, neg = 0, prefix0x = 0;
        uint64_t v;
        switch (conv) {
        case '\0':
            return (int)s->len;
        case '%':
            out(s, '%');
            continue;
        case 'c':
            tmp[0] = (char)va_arg(ap, int);
            str = tmp;
            slen = 1;
            zero = 0;
            break;
        case 's':
            str = va_arg(ap, const char *);
            if (!str)
                str = "(null)";
            slen = (int)strlen(str);
            zero = 0;
            break;
        case 'd':
        case 'i': {
            int64_t sv = lng ? va_arg(ap, long) : va_arg(ap, int);
            neg = sv < 0;
            v = neg ? (uint64_t)0 - (uint64_t)sv : (uint64_t)sv;
            goto number;
        }
        case 'u':
        case 'x':
        case 'X':
            v = lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned int);
            goto number;
        case 'p':
            v = (uint64_t)(uintptr_t)va_arg(ap, void *);
            prefix0x = 1;
            goto number;
        default:            /* unknown conversion: print it verbatim */
            out(s, '%');
            out(s, conv);
            continue;
        }
        goto emit;

    number: {
            unsigned base = (conv == 'd' || conv == 'i' || conv == 'u') ? 10 : 16;
            const char *digits = conv == 'X' ? "0123456789ABCDEF"
                                             : "0123456789abcdef";
            int i = (int)sizeof(tmp);
            do {
                tmp[--i] = digits[v % base];
                v /= base;
            } while (v);
            str = tmp + i;
            slen = (int)sizeof(tmp) - i;
        }
    emit: {
            int extra = neg + 2 * prefix0x;
            int fill = width - slen - extra;
            if (!left && !zero)
                pad(s, ' ', fill);
            if (neg)
                out(s, '-');
            if (prefix0x) {
                out(s, '0');
                out(s, 'x');
            }
            if (zero)
                pad(s, '0', fill);
            for (int i = 0; i < slen; i++)
                out(s, str[i]);
            if (left)
                pad(s, ' ', fill);
        }
    }
    return (int)s->len;
}

int rt_vprintf(const char *fmt, va_list ap)
{
    struct sink s = { 0, 0, 0 };
    return format(&s, fmt, ap);
}

int rt_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = rt_vprintf(fmt, ap);
    va_end(ap);
    return n;
}

int rt_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
    struct sink s = { buf, n, 0 };
    int r = format(&s, fmt, ap);
    if (n)
        buf[s.len < n ? s.len : n - 1] = '\0';
    return r;
}

int rt_snprintf(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = rt_vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return r;
}
