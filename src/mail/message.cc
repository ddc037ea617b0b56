#include "mail/message.h"

#include <gmime/gmime.h>

#include <algorithm>
#include <climits>
#include <memory>
#include <optional>

#include "mail/charset.h"
#include "mail/elide.h"
#include "mail/gmime_init.h"
#include "mail/text_util.h"

namespace backstop::mail {

std::string_view DsnFields::get(std::string_view lower_name) const noexcept {
  for (const auto& f : fields) {
    if (f.name == lower_name) return f.value;
  }
  return {};
}

bool Message::has(Condition c) const noexcept {
  return std::find(conditions.begin(), conditions.end(), c) != conditions.end();
}

namespace {

// Decoded bytes of one text part fed to charset conversion and HTML
// reduction, as a multiple of Limits::max_body_text: markup-heavy HTML
// shrinks several-fold, so a larger window still fills the text budget.
constexpr std::size_t kTextWindowFactor = 8;
// Bytes reserved up front for a multipart entity whose attachments may be
// left out: most of it is then text, and larger ones grow as needed.
constexpr std::size_t kEntityReserve = 64 * 1024;
// Bodies below this are given to GMime whole: too small to hold an attachment
// worth leaving out (elide.cc's kMinElidedBytes), so the elider's cost would
// be all loss.
constexpr std::size_t kMinElidedBody = 16 * 1024;

void add_condition(std::vector<Condition>& v, Condition c) {
  if (std::find(v.begin(), v.end(), c) == v.end()) v.push_back(c);
}

template <class T>
struct GUnref {
  void operator()(T* p) const noexcept {
    if (p != nullptr) g_object_unref(p);
  }
};
template <class T>
using GPtr = std::unique_ptr<T, GUnref<T>>;

bool is_mime_field(std::string_view name) {
  return (name.size() > 8 && iequals(name.substr(0, 8), "content-")) || iequals(name, "mime-version");
}

std::string lower_or_empty(const char* s) { return s != nullptr ? ascii_lower(s) : std::string(); }

// Parser warnings that mean the MIME structure is damaged.
void on_parser_warning(gint64, GMimeParserWarning code, const gchar*, gpointer user) {
  auto* conditions = static_cast<std::vector<Condition>*>(user);
  switch (code) {
    case GMIME_CRIT_NESTING_OVERFLOW:
      add_condition(*conditions, Condition::kMimeDepth);
      break;
    case GMIME_WARN_MALFORMED_MULTIPART:
    case GMIME_WARN_TRUNCATED_MESSAGE:
    case GMIME_WARN_MALFORMED_MESSAGE:
    case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
    case GMIME_WARN_PART_WITHOUT_CONTENT:
    case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
      add_condition(*conditions, Condition::kMimeDamaged);
      break;
    default:
      break;
  }
}

// Transfer-decoded content of a leaf part.
std::string decoded_content(GMimePart* part) {
  GMimeDataWrapper* wrapper = g_mime_part_get_content(part);  // borrowed
  if (wrapper == nullptr) return {};
  GPtr<GMimeStream> out(g_mime_stream_mem_new());
  if (g_mime_data_wrapper_write_to_stream(wrapper, out.get()) < 0) return {};
  GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out.get()));  // owned by `out`
  if (bytes == nullptr || bytes->len == 0) return {};
  return std::string(reinterpret_cast<const char*>(bytes->data), bytes->len);
}

// Unfolds a raw (possibly folded) header value from GMime.
std::string unfold(const char* raw) {
  std::string out;
  if (raw == nullptr) return out;
  for (const char* p = raw; *p != '\0'; ++p) {
    if (*p != '\r' && *p != '\n') out.push_back(*p);
  }
  return std::string(trim(out));
}

HeaderList headers_of(GMimeObject* obj, const Limits& limits) {
  HeaderList list;
  GMimeHeaderList* hl = g_mime_object_get_header_list(obj);  // borrowed
  if (hl == nullptr) return list;
  const int n = g_mime_header_list_get_count(hl);
  for (int k = 0; k < n && list.size() < limits.max_header_count; ++k) {
    GMimeHeader* h = g_mime_header_list_get_header_at(hl, k);
    if (h == nullptr) continue;
    const char* name = g_mime_header_get_name(h);
    std::string value = unfold(g_mime_header_get_raw_value(h));
    if (value.size() > limits.max_field_bytes) value.resize(limits.max_field_bytes);
    list.mutable_fields().push_back(HeaderField{name != nullptr ? name : "", std::move(value)});
  }
  return list;
}

// The MIME fields of `headers` followed by an empty line and `body`: the
// top-level entity as GMime needs to see it, with the content of attachments
// left out when the top-level entity is a multipart (elide.h).
std::string mime_entity(const HeaderList& headers, std::string_view body, bool elide) {
  std::size_t size = 2;
  for (const HeaderField& f : headers.fields()) {
    if (is_mime_field(f.name)) size += f.name.size() + f.value.size() + 4;
  }
  std::string boundary;
  if (const std::vector<std::string_view> ct = headers.all("content-type");
      elide && ct.size() == 1 && body.size() >= kMinElidedBody) {
    boundary = detail::elidable_multipart_boundary(ct.front()).value_or(std::string());
  }
  std::string out;
  out.reserve(size + (boundary.empty() ? body.size() : std::min(body.size(), kEntityReserve)));
  for (const HeaderField& f : headers.fields()) {
    if (!is_mime_field(f.name)) continue;
    out.append(f.name).append(": ").append(f.value).append("\r\n");
  }
  out.append("\r\n");
  detail::append_body_elided(out, body, boundary);
  return out;
}

// The content length recorded by the elider in a part's header section, 0
// when the part was not elided.
gint64 elided_length(GMimeObject* obj) {
  static const std::string kName(detail::kElidedField);
  const char* v = g_mime_object_get_header(obj, kName.c_str());
  if (v == nullptr) return 0;
  gint64 n = 0;
  for (const char* p = v; *p >= '0' && *p <= '9' && n < (gint64{1} << 40); ++p) n = n * 10 + (*p - '0');
  return n;
}

struct Frame {
  GMimeObject* obj;  // borrowed from the parsed message
  int parent;
  int depth;
  bool embedded;   // inside an embedded original
  bool skip_text;  // HTML alternative of a text/plain sibling
};

class Walker {
 public:
  Walker(Message& m, const Limits& limits) : m_(m), limits_(limits) {}

  void walk(GMimeObject* root) {
    std::vector<Frame> stack;
    stack.push_back(Frame{root, -1, 0, false, false});
    while (!stack.empty()) {
      const Frame f = stack.back();
      stack.pop_back();
      if (static_cast<std::size_t>(f.depth) > limits_.max_mime_depth) {
        add_condition(m_.conditions, Condition::kMimeDepth);
        continue;
      }
      if (m_.parts.size() >= limits_.max_parts) {
        add_condition(m_.conditions, Condition::kMimeParts);
        break;
      }
      const int index = static_cast<int>(m_.parts.size());
      m_.parts.push_back(describe(f));
      visit(f, index, stack);
    }
  }

 private:
  Part describe(const Frame& f) {
    Part p;
    p.parent = f.parent;
    p.depth = f.depth;
    GMimeContentType* ct = g_mime_object_get_content_type(f.obj);  // borrowed
    if (ct != nullptr) {
      p.type = lower_or_empty(g_mime_content_type_get_media_type(ct));
      p.subtype = lower_or_empty(g_mime_content_type_get_media_subtype(ct));
      p.charset = lower_or_empty(g_mime_content_type_get_parameter(ct, "charset"));
      p.report_type = lower_or_empty(g_mime_content_type_get_parameter(ct, "report-type"));
    }
    if (GMimeContentDisposition* cd = g_mime_object_get_content_disposition(f.obj); cd != nullptr) {
      p.disposition = lower_or_empty(g_mime_content_disposition_get_disposition(cd));
    }
    if (GMIME_IS_PART(f.obj)) {
      if (const char* fn = g_mime_part_get_filename(GMIME_PART(f.obj)); fn != nullptr) {
        detail::append_utf8_sanitized(p.filename, fn);
      }
    }
    return p;
  }

  void visit(const Frame& f, int index, std::vector<Frame>& stack) {
    if (GMIME_IS_MULTIPART(f.obj)) {
      push_children(f, index, stack);
    } else if (GMIME_IS_MESSAGE_PART(f.obj)) {
      GMimeMessage* sub = g_mime_message_part_get_message(GMIME_MESSAGE_PART(f.obj));  // borrowed
      if (sub == nullptr) return;
      add_embedded("rfc822", headers_of(GMIME_OBJECT(sub), limits_));
      if (GMimeObject* body = g_mime_message_get_mime_part(sub); body != nullptr) {
        stack.push_back(Frame{body, index, f.depth + 1, true, false});
      }
    } else if (GMIME_IS_PART(f.obj)) {
      leaf(f, m_.parts[static_cast<std::size_t>(index)]);
    }
  }

  void push_children(const Frame& f, int index, std::vector<Frame>& stack) {
    GMimeMultipart* mp = GMIME_MULTIPART(f.obj);
    const int n = g_mime_multipart_get_count(mp);
    const bool alternative = m_.parts[static_cast<std::size_t>(index)].subtype == "alternative";
    bool has_plain = false;
    if (alternative) {
      for (int k = 0; k < n; ++k) {
        GMimeContentType* ct = g_mime_object_get_content_type(g_mime_multipart_get_part(mp, k));
        has_plain = has_plain || (ct != nullptr && g_mime_content_type_is_type(ct, "text", "plain"));
      }
    }
    for (int k = n - 1; k >= 0; --k) {
      GMimeObject* child = g_mime_multipart_get_part(mp, k);  // borrowed
      if (child == nullptr) continue;
      GMimeContentType* ct = g_mime_object_get_content_type(child);
      const bool skip = has_plain && ct != nullptr && !g_mime_content_type_is_type(ct, "text", "plain");
      stack.push_back(Frame{child, index, f.depth + 1, f.embedded, skip});
    }
  }

  void leaf(const Frame& f, Part& p) {
    if (!decodes(p, f.skip_text)) {
      // Not decoded: estimate the decoded size from the encoded content
      // (its length before it was left out, for an elided part).
      if (GMimeDataWrapper* w = g_mime_part_get_content(GMIME_PART(f.obj)); w != nullptr) {
        if (GMimeStream* s = g_mime_data_wrapper_get_stream(w); s != nullptr) {
          gint64 len = g_mime_stream_length(s);
          if (len <= 0) len = elided_length(f.obj);
          const bool b64 = g_mime_data_wrapper_get_encoding(w) == GMIME_CONTENT_ENCODING_BASE64;
          p.decoded_size = len > 0 ? static_cast<std::size_t>(b64 ? len / 4 * 3 : len) : 0;
        }
      }
      return;
    }
    consume(p, f.embedded, decoded_content(GMIME_PART(f.obj)));
  }

 public:
  // Whether the content of a leaf part of this type is decoded and used.
  static bool decodes(const Part& p, bool skip_text) {
    return is_dsn(p) || is_headers_only(p) || is_message(p) || (p.type == "text" && !skip_text);
  }

  // Uses the transfer-decoded content of a leaf part.
  void consume(Part& p, bool embedded, std::string bytes) {
    p.decoded_size = bytes.size();
    if (is_dsn(p)) {
      if (!embedded) m_.delivery_status.push_back(detail::parse_delivery_status(bytes, limits_));
    } else if (is_headers_only(p) || is_message(p)) {
      // text/rfc822-headers, or a message/rfc822 GMime left as a leaf (e.g.
      // transfer-encoded): read its header section ourselves.
      HeaderParse hp = parse_header_section(bytes, limits_);
      add_embedded(is_message(p) ? "rfc822" : "rfc822-headers", std::move(hp.headers));
      if (is_message(p) && hp.body_offset < bytes.size()) {
        append_text(std::string_view(bytes).substr(hp.body_offset), "", false, true);
      }
    } else {
      append_text(bytes, p.charset, p.subtype == "html", embedded);
    }
  }

 private:
  static bool is_dsn(const Part& p) {
    return p.type == "message" && (p.subtype == "delivery-status" || p.subtype == "global-delivery-status");
  }
  static bool is_headers_only(const Part& p) {
    return (p.type == "text" && p.subtype == "rfc822-headers") ||
           (p.type == "message" && (p.subtype == "rfc822-headers" || p.subtype == "global-headers"));
  }
  static bool is_message(const Part& p) {
    return p.type == "message" && (p.subtype == "rfc822" || p.subtype == "global");
  }

  void append_text(std::string_view bytes, std::string_view charset, bool html, bool embedded) {
    std::string& dst = embedded ? m_.embedded_text : m_.text;
    if (dst.size() >= limits_.max_body_text) {
      add_condition(m_.conditions, Condition::kBodyTruncated);
      return;
    }
    const std::size_t window = limits_.max_body_text * kTextWindowFactor;
    if (bytes.size() > window) bytes = bytes.substr(0, window);
    std::string utf8;
    detail::append_as_utf8(utf8, bytes, charset);
    if (html) {
      detail::HtmlText reduced = detail::html_to_text(utf8, limits_.max_body_text);
      if (reduced.truncated) add_condition(m_.conditions, Condition::kBodyTruncated);
      utf8 = std::move(reduced.text);
    }
    if (!dst.empty() && dst.back() != '\n') dst.push_back('\n');
    if (detail::append_utf8_prefix(dst, utf8, limits_.max_body_text - std::min(dst.size(), limits_.max_body_text))) {
      add_condition(m_.conditions, Condition::kBodyTruncated);
    }
  }

  void add_embedded(const char* kind, HeaderList headers) {
    if (m_.embedded.size() >= limits_.max_embedded) {
      add_condition(m_.conditions, Condition::kEmbeddedCount);
      return;
    }
    m_.embedded.push_back(Embedded{kind, std::move(headers)});
  }

  Message& m_;
  const Limits& limits_;
};

// Transfer decoding without a GMime object (base64, quoted-printable, uuencode).
std::string transfer_decode(std::string_view body, GMimeContentEncoding enc) {
  if (enc != GMIME_CONTENT_ENCODING_BASE64 && enc != GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE &&
      enc != GMIME_CONTENT_ENCODING_UUENCODE) {
    return std::string(body);
  }
  GMimeEncoding state;
  g_mime_encoding_init_decode(&state, enc);
  std::string out(g_mime_encoding_outlen(&state, body.size()) + 16, '\0');
  std::size_t n = g_mime_encoding_step(&state, body.data(), body.size(), out.data());
  n += g_mime_encoding_flush(&state, nullptr, 0, out.data() + n);
  out.resize(std::min(n, out.size()));
  return out;
}

// A field value as a C string for GMime's parsers (they stop at a NUL byte).
std::string c_value(std::optional<std::string_view> v) { return v ? std::string(*v) : std::string(); }

// Single-part messages (no multipart/ or message/ type): the root part is
// described and decoded without the GMime parser, which is most of its cost.
// Returns false when the message needs the full parser.
bool parse_single_part(Message& m, std::string_view body, const Limits& limits) {
  const std::string ct_value = c_value(m.headers.get("content-type"));
  Part p;
  p.type = "text";
  p.subtype = "plain";
  if (!trim(ct_value).empty()) {
    GPtr<GMimeContentType> ct(g_mime_content_type_parse(nullptr, ct_value.c_str()));
    if (!ct) return false;
    p.type = lower_or_empty(g_mime_content_type_get_media_type(ct.get()));
    p.subtype = lower_or_empty(g_mime_content_type_get_media_subtype(ct.get()));
    if (p.type == "multipart" || p.type == "message") return false;
    p.charset = lower_or_empty(g_mime_content_type_get_parameter(ct.get(), "charset"));
    if (const char* name = g_mime_content_type_get_parameter(ct.get(), "name"); name != nullptr) {
      detail::append_utf8_sanitized(p.filename, name);
    }
  }
  if (const auto cd_value = m.headers.get("content-disposition"); cd_value && !trim(*cd_value).empty()) {
    const std::string v(*cd_value);
    GPtr<GMimeContentDisposition> cd(g_mime_content_disposition_parse(nullptr, v.c_str()));
    if (cd) {
      p.disposition = lower_or_empty(g_mime_content_disposition_get_disposition(cd.get()));
      if (const char* fn = g_mime_content_disposition_get_parameter(cd.get(), "filename"); fn != nullptr) {
        p.filename.clear();
        detail::append_utf8_sanitized(p.filename, fn);
      }
    }
  }
  const std::string cte = c_value(m.headers.get("content-transfer-encoding"));
  const GMimeContentEncoding enc = g_mime_content_encoding_from_string(std::string(trim(cte)).c_str());
  m.parts.push_back(std::move(p));
  Part& root = m.parts.back();
  Walker w(m, limits);
  if (Walker::decodes(root, false)) {
    w.consume(root, false, transfer_decode(body, enc));
  } else {
    root.decoded_size = enc == GMIME_CONTENT_ENCODING_BASE64 ? body.size() / 4 * 3 : body.size();
  }
  return true;
}

// The message of a parsed header section `hp` and `body`, `raw_size` bytes
// in all.
Result<Message> parse_with_headers(HeaderParse hp, std::string_view body, std::size_t raw_size,
                                   const Limits& limits, bool elide = true) {
  if (hp.headers.empty()) return fail(Code::kMalformed, "no header section (not a mail message)");
  if (raw_size > UINT_MAX) return fail(Code::kTooLarge, "message larger than 4 GiB");
  Message m;
  m.raw_size = raw_size;
  m.headers = std::move(hp.headers);
  m.conditions = std::move(hp.conditions);

  detail::ensure_gmime();
  if (parse_single_part(m, body, limits)) return m;
  // GMime sees only the MIME fields of the top-level header section (we
  // have parsed the rest) and the body: it then builds no header list or
  // address objects for Received chains and the like, which is most of its
  // cost on real mail. One copy of the body; GMime only reads it.
  std::string entity = mime_entity(m.headers, body, elide);
  GByteArray array{};
  array.data = reinterpret_cast<guint8*>(entity.data());
  array.len = static_cast<guint>(entity.size());
  GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_byte_array(&array));
  g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(stream.get()), FALSE);  // `array` outlives every GMime object
  GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
  g_mime_parser_set_format(parser.get(), GMIME_FORMAT_MESSAGE);
  GMimeParserOptions* options = g_mime_parser_options_new();
  g_mime_parser_options_set_warning_callback(options, on_parser_warning, &m.conditions);
  GPtr<GMimeObject> root(g_mime_parser_construct_part(parser.get(), options));
  g_mime_parser_options_free(options);
  if (!root) {
    // GMime gave up: a bare text/plain root.
    add_condition(m.conditions, Condition::kMimeDamaged);
    Part p;
    p.type = "text";
    p.subtype = "plain";
    m.parts.push_back(std::move(p));
    return m;
  }
  Walker(m, limits).walk(root.get());
  return m;
}

}  // namespace

namespace detail {
Result<Message> parse_message_whole(std::string_view raw, const Limits& limits) {
  HeaderParse hp = parse_header_section(raw, limits);
  const std::string_view body = raw.substr(std::min(hp.body_offset, raw.size()));
  return parse_with_headers(std::move(hp), body, raw.size(), limits, false);
}
}  // namespace detail

Result<Message> parse_message(std::string_view raw, const Limits& limits) {
  HeaderParse hp = parse_header_section(raw, limits);
  const std::string_view body = raw.substr(std::min(hp.body_offset, raw.size()));
  return parse_with_headers(std::move(hp), body, raw.size(), limits);
}

Result<Message> parse_message(std::span<const FieldView> headers, std::string_view body, const Limits& limits) {
  std::optional<HeaderParse> hp = parse_header_fields(headers, limits);
  if (!hp) {
    // The fields do not form a header section on their own: parse the text
    // they stand for.
    std::string raw;
    for (const FieldView& f : headers) raw.append(f.name).append(": ").append(f.value).append("\r\n");
    raw.append("\r\n").append(body);
    return parse_message(raw, limits);
  }
  const std::size_t raw_size = hp->body_offset + body.size();
  return parse_with_headers(std::move(*hp), body, raw_size, limits);
}

}  // namespace backstop::mail
