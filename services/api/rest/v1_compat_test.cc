// Old clients keep working: the v1.0 surface, frozen in testdata/v1.0 (engram.proto and
// openapi.json as released, commit 3e13f76, before the v1.1 additions), is checked against the
// current proto and the committed OpenAPI document.
//   * gRPC: every v1.0 method still exists with the same request/response types and streaming;
//     every v1.0 message field keeps its number, type, cardinality and JSON name; every enum value
//     its number.
//   * Wire and JSON: a v1.0 request with every field set, encoded by the v1.0 descriptors (binary
//     and protobuf JSON), parses into today's message (JSON strictly: unknown fields refused, as
//     the REST gateway does) and encodes back to exactly the old message; the same for responses
//     decoded by an old client.
//   * REST: every v1.0 route still exists with the same path and query parameters and success
//     statuses, and every property of every v1.0 schema keeps its type.
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "engram/v1/engram.pb.h"
#include "google/protobuf/compiler/importer.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace engram::api {
namespace {

namespace pb = google::protobuf;
using Json = nlohmann::json;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class ErrorCollector final : public pb::compiler::MultiFileErrorCollector {
 public:
  void AddError(const std::string& file, int line, int column, const std::string& message) override {
    ADD_FAILURE() << file << ":" << line << ":" << column << ": " << message;
  }
};

// The frozen v1.0 engram.proto, compiled at run time.
class V1CompatTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tree_ = new pb::compiler::DiskSourceTree();
    tree_->MapPath("", ENGRAM_V1_0_DIR);
    tree_->MapPath("", "/usr/include");  // google/protobuf/*.proto
    errors_ = new ErrorCollector();
    importer_ = new pb::compiler::Importer(tree_, errors_);
    old_file_ = importer_->Import("engram.proto");
    factory_ = new pb::DynamicMessageFactory(importer_->pool());
  }
  static void TearDownTestSuite() {
    delete factory_;
    delete importer_;
    delete errors_;
    delete tree_;
  }
  void SetUp() override { ASSERT_NE(old_file_, nullptr) << "cannot compile testdata/v1.0/engram.proto"; }

  static const pb::FileDescriptor* Current() { return v1::LearnRequest::descriptor()->file(); }

  static pb::compiler::DiskSourceTree* tree_;
  static ErrorCollector* errors_;
  static pb::compiler::Importer* importer_;
  static const pb::FileDescriptor* old_file_;
  static pb::DynamicMessageFactory* factory_;
};
pb::compiler::DiskSourceTree* V1CompatTest::tree_ = nullptr;
ErrorCollector* V1CompatTest::errors_ = nullptr;
pb::compiler::Importer* V1CompatTest::importer_ = nullptr;
const pb::FileDescriptor* V1CompatTest::old_file_ = nullptr;
pb::DynamicMessageFactory* V1CompatTest::factory_ = nullptr;

TEST_F(V1CompatTest, EveryV1MethodIsStillServedWithTheSameTypes) {
  const pb::ServiceDescriptor* old_service = old_file_->FindServiceByName("Engram");
  const pb::ServiceDescriptor* service = Current()->FindServiceByName("Engram");
  ASSERT_NE(old_service, nullptr);
  ASSERT_NE(service, nullptr);
  ASSERT_GE(old_service->method_count(), 14);
  for (int i = 0; i < old_service->method_count(); ++i) {
    const pb::MethodDescriptor* old_method = old_service->method(i);
    const pb::MethodDescriptor* method = service->FindMethodByName(old_method->name());
    ASSERT_NE(method, nullptr) << old_method->name() << " was removed";
    EXPECT_EQ(method->input_type()->full_name(), old_method->input_type()->full_name());
    EXPECT_EQ(method->output_type()->full_name(), old_method->output_type()->full_name());
    EXPECT_EQ(method->client_streaming(), old_method->client_streaming()) << method->name();
    EXPECT_EQ(method->server_streaming(), old_method->server_streaming()) << method->name();
  }
}

TEST_F(V1CompatTest, EveryV1FieldAndEnumValueKeepsItsNumberTypeAndJsonName) {
  int fields = 0;
  for (int m = 0; m < old_file_->message_type_count(); ++m) {
    const pb::Descriptor* old_message = old_file_->message_type(m);
    const pb::Descriptor* message = Current()->pool()->FindMessageTypeByName(old_message->full_name());
    ASSERT_NE(message, nullptr) << old_message->full_name() << " was removed";
    for (int f = 0; f < old_message->field_count(); ++f) {
      const pb::FieldDescriptor* old_field = old_message->field(f);
      const pb::FieldDescriptor* field = message->FindFieldByNumber(old_field->number());
      const std::string name = absl::StrCat(old_message->full_name(), ".", old_field->name());
      ASSERT_NE(field, nullptr) << name << " was removed";
      ++fields;
      EXPECT_EQ(field->name(), old_field->name()) << name;
      EXPECT_EQ(field->json_name(), old_field->json_name()) << name;
      EXPECT_EQ(field->type(), old_field->type()) << name;
      EXPECT_EQ(field->is_repeated(), old_field->is_repeated()) << name;
      EXPECT_EQ(field->is_map(), old_field->is_map()) << name;
      if (old_field->message_type() != nullptr) {
        EXPECT_EQ(field->message_type()->full_name(), old_field->message_type()->full_name()) << name;
      }
      if (old_field->enum_type() != nullptr) {
        EXPECT_EQ(field->enum_type()->full_name(), old_field->enum_type()->full_name()) << name;
      }
      EXPECT_EQ(field->containing_oneof() == nullptr, old_field->containing_oneof() == nullptr) << name;
    }
  }
  EXPECT_GT(fields, 100);
  for (int e = 0; e < old_file_->enum_type_count(); ++e) {
    const pb::EnumDescriptor* old_enum = old_file_->enum_type(e);
    const pb::EnumDescriptor* current = Current()->pool()->FindEnumTypeByName(old_enum->full_name());
    ASSERT_NE(current, nullptr) << old_enum->full_name();
    for (int v = 0; v < old_enum->value_count(); ++v) {
      const pb::EnumValueDescriptor* value = current->FindValueByName(old_enum->value(v)->name());
      ASSERT_NE(value, nullptr) << old_enum->value(v)->full_name() << " was removed";
      EXPECT_EQ(value->number(), old_enum->value(v)->number()) << value->full_name();
    }
  }
}

// Sets every field of `message` (recursively, to depth 3) to a value derived from `seed`.
void Fill(pb::Message* message, int seed, int depth = 0) {
  const pb::Descriptor* d = message->GetDescriptor();
  const pb::Reflection* r = message->GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const pb::FieldDescriptor* f = d->field(i);
    if (f->containing_oneof() != nullptr && r->HasOneof(*message, f->containing_oneof())) continue;
    const int v = seed * 31 + i + 1;
    const int copies = f->is_repeated() ? 2 : 1;
    for (int c = 0; c < copies; ++c) {
      switch (f->cpp_type()) {
        case pb::FieldDescriptor::CPPTYPE_MESSAGE: {
          if (depth >= 3) break;
          if (f->message_type()->full_name() == "google.protobuf.Timestamp") {
            pb::Message* t = f->is_repeated() ? r->AddMessage(message, f) : r->MutableMessage(message, f);
            t->GetReflection()->SetInt64(t, t->GetDescriptor()->FindFieldByName("seconds"), 1'700'000'000 + v);
            break;
          }
          pb::Message* sub = f->is_repeated() ? r->AddMessage(message, f) : r->MutableMessage(message, f);
          Fill(sub, v + c, depth + 1);
          break;
        }
        case pb::FieldDescriptor::CPPTYPE_STRING: {
          const std::string s = absl::StrCat(f->name(), "-", v, "-", c);
          f->is_repeated() ? r->AddString(message, f, s) : r->SetString(message, f, s);
          break;
        }
        case pb::FieldDescriptor::CPPTYPE_BOOL:
          f->is_repeated() ? r->AddBool(message, f, true) : r->SetBool(message, f, true);
          break;
        case pb::FieldDescriptor::CPPTYPE_FLOAT:
          f->is_repeated() ? r->AddFloat(message, f, 0.25f * v) : r->SetFloat(message, f, 0.25f * v);
          break;
        case pb::FieldDescriptor::CPPTYPE_DOUBLE:
          f->is_repeated() ? r->AddDouble(message, f, 0.5 * v) : r->SetDouble(message, f, 0.5 * v);
          break;
        case pb::FieldDescriptor::CPPTYPE_UINT32:
          f->is_repeated() ? r->AddUInt32(message, f, v) : r->SetUInt32(message, f, v);
          break;
        case pb::FieldDescriptor::CPPTYPE_UINT64:
          f->is_repeated() ? r->AddUInt64(message, f, v) : r->SetUInt64(message, f, v);
          break;
        case pb::FieldDescriptor::CPPTYPE_INT32:
          f->is_repeated() ? r->AddInt32(message, f, v) : r->SetInt32(message, f, v);
          break;
        case pb::FieldDescriptor::CPPTYPE_INT64:
          f->is_repeated() ? r->AddInt64(message, f, v) : r->SetInt64(message, f, v);
          break;
        case pb::FieldDescriptor::CPPTYPE_ENUM: {
          const pb::EnumDescriptor* e = f->enum_type();
          const int number = e->value(e->value_count() - 1)->number();
          f->is_repeated() ? r->AddEnumValue(message, f, number) : r->SetEnumValue(message, f, number);
          break;
        }
      }
      if (f->is_map()) break;  // one entry: two with equal keys would collapse
    }
  }
}

TEST_F(V1CompatTest, OldRequestsAndResponsesRoundTripThroughTodaysMessagesOnTheWireAndInJson) {
  pb::util::JsonParseOptions strict;
  strict.ignore_unknown_fields = false;
  pb::util::JsonPrintOptions print;
  print.always_print_primitive_fields = false;
  int checked = 0;
  for (int m = 0; m < old_file_->message_type_count(); ++m) {
    const pb::Descriptor* old_type = old_file_->message_type(m);
    const pb::Descriptor* type = Current()->pool()->FindMessageTypeByName(old_type->full_name());
    ASSERT_NE(type, nullptr);
    SCOPED_TRACE(old_type->full_name());
    std::unique_ptr<pb::Message> old_message(factory_->GetPrototype(old_type)->New());
    Fill(old_message.get(), m);
    std::unique_ptr<pb::Message> current(
        pb::MessageFactory::generated_factory()->GetPrototype(type)->New());

    // Binary: old bytes -> today's message -> bytes -> the old message, unchanged.
    ASSERT_TRUE(current->ParseFromString(old_message->SerializeAsString()));
    std::unique_ptr<pb::Message> back(old_message->New());
    ASSERT_TRUE(back->ParseFromString(current->SerializeAsString()));
    EXPECT_TRUE(pb::util::MessageDifferencer::Equals(*old_message, *back))
        << old_message->ShortDebugString() << "\n" << back->ShortDebugString();
    EXPECT_TRUE(current->GetReflection()->GetUnknownFields(*current).empty())
        << "an old field is unknown today";

    // JSON (the REST bodies): strict parse of the old JSON, printed back, parsed by the old type.
    std::string old_json;
    ASSERT_TRUE(pb::util::MessageToJsonString(*old_message, &old_json, print).ok());
    current->Clear();
    const auto parsed = pb::util::JsonStringToMessage(old_json, current.get(), strict);
    ASSERT_TRUE(parsed.ok()) << parsed.message().as_string() << "\n" << old_json;
    std::string new_json;
    ASSERT_TRUE(pb::util::MessageToJsonString(*current, &new_json, print).ok());
    back->Clear();
    const auto reparsed = pb::util::JsonStringToMessage(new_json, back.get(), strict);
    ASSERT_TRUE(reparsed.ok()) << "an old client cannot read today's JSON: " << reparsed.message().as_string()
                               << "\n" << new_json;
    EXPECT_TRUE(pb::util::MessageDifferencer::Equals(*old_message, *back)) << old_json << "\n" << new_json;
    ++checked;
  }
  EXPECT_GT(checked, 30);
}

TEST(V1CompatRestTest, EveryV1RouteKeepsItsParametersStatusesAndSchemas) {
  const Json old_doc = Json::parse(Read(ENGRAM_V1_0_DIR "/openapi.json"), nullptr, false);
  const Json doc = Json::parse(Read(ENGRAM_OPENAPI_JSON), nullptr, false);
  ASSERT_FALSE(old_doc.is_discarded());
  ASSERT_FALSE(doc.is_discarded());
  int routes = 0;
  const auto params = [](const Json& operation) {
    std::set<std::string> out;
    const Json parameters = operation.value("parameters", Json::array());
    for (const Json& p : parameters) {
      if (p.contains("name")) out.insert(p.value("in", "") + ":" + p.value("name", ""));
    }
    return out;
  };
  for (const auto& [path, operations] : old_doc["paths"].items()) {
    for (const auto& [method, old_op] : operations.items()) {
      const std::string name = absl::StrCat(method, " ", path);
      ASSERT_TRUE(doc["paths"].contains(path) && doc["paths"][path].contains(method)) << name << " was removed";
      const Json& op = doc["paths"][path][method];
      ++routes;
      EXPECT_EQ(op["operationId"], old_op["operationId"]) << name;
      // Old parameters stay (new optional ones may be added).
      const std::set<std::string> now = params(op);
      for (const std::string& p : params(old_op)) EXPECT_TRUE(now.contains(p)) << name << " lost " << p;
      for (const auto& [status, unused] : old_op["responses"].items()) {
        EXPECT_TRUE(op["responses"].contains(status)) << name << " lost status " << status;
      }
      EXPECT_EQ(op.contains("requestBody"), old_op.contains("requestBody")) << name;
    }
  }
  EXPECT_GE(routes, 14);
  int properties = 0;
  for (const auto& [schema, old_schema] : old_doc["components"]["schemas"].items()) {
    ASSERT_TRUE(doc["components"]["schemas"].contains(schema)) << schema << " was removed";
    const Json& now = doc["components"]["schemas"][schema];
    const Json old_properties = old_schema.value("properties", Json::object());  // not a temporary
    for (const auto& [property, old_property] : old_properties.items()) {
      ASSERT_TRUE(now["properties"].contains(property)) << schema << "." << property << " was removed";
      EXPECT_EQ(now["properties"][property], old_property) << schema << "." << property;
      ++properties;
    }
    if (old_schema.contains("enum")) {
      for (const Json& value : old_schema["enum"]) {
        EXPECT_NE(std::find(now["enum"].begin(), now["enum"].end(), value), now["enum"].end())
            << schema << " lost " << value;
      }
    }
  }
  EXPECT_GT(properties, 100);
}

}  // namespace
}  // namespace engram::api
