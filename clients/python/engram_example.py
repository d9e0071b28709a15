#!/usr/bin/env python3
"""Engram from Python over gRPC (engram.v1.Engram), end to end.

Creates a namespace, learns a batch of facts, lists the learned concepts page by page, searches,
streams a reasoning (seeds and paths as they are found, then the answer), exports the namespace and
deletes it. Every step checks its result: the script exits 1 with "FAIL: ..." on any mismatch.

Stubs come from the committed proto (see gen.sh; never commit them):
  clients/python/gen.sh /tmp/engram-py
  PYTHONPATH=/tmp/engram-py /usr/bin/python3 clients/python/engram_example.py \
      --addr 127.0.0.1:50051 --api_key "$ENGRAM_API_KEY"
Against a suite with TLS (docs/operations.md#tls) add --ca_file ca.crt (the CA that signed
engram-api's certificate). The key needs the admin role (it creates and deletes a namespace). Debian packages:
python3-grpcio python3-protobuf protobuf-compiler protobuf-compiler-grpc.
"""
import argparse
import os
import sys
import time

import grpc
from engram.v1 import engram_pb2 as pb
from engram.v1 import engram_pb2_grpc as pb_grpc

# Each fact is one concept. Relations stated in a fact ("X is a Y", "X leads to Y") also become
# concepts of their own ("deforestation", "soil erosion") joined by typed associations.
FACTS = [
    "A whale is a mammal",
    "A dolphin is a mammal",
    "A mammal is an animal",
    "Whales eat krill",
    "Krill is part of plankton",
    "Heavy rain causes floods",
    "Floods damage houses",
    "Deforestation leads to soil erosion",
    "Soil erosion results in poorer harvests",
    "The caterpillar becomes a chrysalis before it becomes a butterfly",
    "A butterfly is an insect",
    "Bees pollinate flowers",
]
SEARCH_QUERY = "caterpillar chrysalis"
SEARCH_EXPECTED = "The caterpillar becomes a chrysalis before it becomes a butterfly"
QUESTION = "What does deforestation lead to?"
ANSWER_EXPECTED = "soil erosion"
PAGE_SIZE = 5  # small on purpose: the 12 facts take 3 pages
TIMEOUT_S = 30  # deadline of each call


def check(condition, message):
    if not condition:
        sys.exit(f"FAIL: {message}")


def run(stub, auth, ns):
    tag = {"example": ns}  # marks the facts learned here (the listing filters on it)

    # LearnBatch: all or nothing; one result per item, in order.
    learned = stub.LearnBatch(
        pb.LearnBatchRequest(namespace=ns, concepts=[
            pb.LearnRequest(content=fact, attributes=tag) for fact in FACTS]),
        metadata=auth, timeout=TIMEOUT_S)
    learned_ids = [r.id for r in learned.results]
    check(len(learned_ids) == len(FACTS) and all(r.created for r in learned.results),
          f"LearnBatch created {sum(r.created for r in learned.results)} of {len(FACTS)} concepts")
    check(learned.associations_created > 0, "LearnBatch created no associations")
    print(f"learned {len(learned_ids)} facts, {learned.associations_created} associations")

    # ListConcepts, page by page, only the concepts carrying our attribute.
    listed, pages, token = [], 0, ""
    while True:
        page = stub.ListConcepts(
            pb.ListConceptsRequest(namespace=ns, page_size=PAGE_SIZE, page_token=token,
                                   attribute=[f"example:{ns}"]),
            metadata=auth, timeout=TIMEOUT_S)
        pages += 1
        listed += [c.id for c in page.concepts]
        print(f"  page {pages}: {len(page.concepts)} concepts")
        token = page.next_page_token
        if not token:
            break
    check(pages >= 2, f"ListConcepts gave {pages} page(s) for {len(FACTS)} concepts at pageSize {PAGE_SIZE}")
    check(len(listed) == len(set(listed)), "ListConcepts listed a concept twice")
    check(sorted(listed) == sorted(learned_ids),
          f"ListConcepts listed {len(listed)} concepts, expected the {len(learned_ids)} learned")
    print(f"listed {len(listed)} concepts in {pages} pages")

    # Search: the best hit of a distinctive query is the fact it describes.
    found = stub.Search(pb.SearchRequest(namespace=ns, query=SEARCH_QUERY, k=3),
                        metadata=auth, timeout=TIMEOUT_S)
    check(len(found.results) > 0, "Search found nothing")
    top = found.results[0]
    check(top.content == SEARCH_EXPECTED, f"Search's first hit is {top.content!r}, expected {SEARCH_EXPECTED!r}")
    print(f"search {SEARCH_QUERY!r}: {top.content!r} (score {top.score:.3f})")

    # ReasonStream: one seeds event, then each path as it is found, then the answer (last).
    kinds = []
    answer = None
    for event in stub.ReasonStream(pb.ReasonRequest(namespace=ns, query=QUESTION),
                                   metadata=auth, timeout=TIMEOUT_S):
        kind = event.WhichOneof("event")
        kinds.append(kind)
        if kind == "seeds":
            print("  seeds: " + ", ".join(s.content for s in event.seeds.support[:3]) + ", ...")
        elif kind == "path":
            print("  path:  " + " -> ".join(c.content for c in event.path.concepts))
        elif kind == "answer":
            answer = event.answer
    check(kinds.count("seeds") == 1 and kinds[0] == "seeds", f"ReasonStream events {kinds}: expected one seeds first")
    check(kinds[-1] == "answer" and kinds.count("answer") == 1, f"ReasonStream did not end with one answer: {kinds}")
    check(answer.confident and answer.answer.content == ANSWER_EXPECTED,
          f"ReasonStream answered {answer.answer.content!r} (confident={answer.confident}), expected {ANSWER_EXPECTED!r}")
    print(f"reason {QUESTION!r}: {answer.answer.content} (confidence {answer.confidence.final:.2f}, "
          f"{kinds.count('path')} paths streamed)\n  {answer.explanation}")

    # ExportNamespace: the namespace first, then chunks of concepts, then chunks of associations.
    header, concepts, associations = None, [], []
    for chunk in stub.ExportNamespace(pb.ExportNamespaceRequest(namespace=ns),
                                      metadata=auth, timeout=TIMEOUT_S):
        if chunk.HasField("namespace"):
            header = chunk.namespace
        concepts += chunk.concepts
        associations += chunk.associations
    exported_ids = [c.id for c in concepts]
    print(f"exported {len(concepts)} concepts ({len(FACTS)} facts + the concepts their relations name), "
          f"{len(associations)} associations")
    info = stub.GetNamespace(pb.GetNamespaceRequest(namespace=ns), metadata=auth, timeout=TIMEOUT_S)
    stats = stub.GetStats(pb.GetStatsRequest(), metadata=auth, timeout=TIMEOUT_S)
    check(header is not None and header.name == ns, "the export did not start with its namespace")
    check(len(exported_ids) == len(set(exported_ids)), "the export holds a concept twice")
    check(set(learned_ids) <= set(exported_ids), "the export lacks a learned concept")
    check(len(concepts) == info.concept_count == header.concept_count,
          f"exported {len(concepts)} concepts, the namespace has {info.concept_count}")
    check(len(associations) == info.association_count == learned.associations_created,
          f"exported {len(associations)} associations, the namespace has {info.association_count}, "
          f"LearnBatch created {learned.associations_created}")
    # GetStats counts every namespace of the suite: at least this one's.
    check(stats.concepts >= len(concepts) and stats.associations >= len(associations),
          f"GetStats counts {stats.concepts} concepts, {stats.associations} associations: fewer than exported")
    print(f"stats: {stats.concepts} concepts, {stats.associations} associations in {stats.namespaces} namespaces")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--addr", default=os.environ.get("ENGRAM_ADDR", "127.0.0.1:50051"),
                        help="engram-api gRPC address ($ENGRAM_ADDR, default 127.0.0.1:50051)")
    parser.add_argument("--api_key", default=os.environ.get("ENGRAM_API_KEY", ""),
                        help="admin API key ($ENGRAM_API_KEY)")
    parser.add_argument("--ca_file", default=os.environ.get("ENGRAM_CA_FILE", ""),
                        help="PEM CA that signed engram-api's certificate: connect with TLS "
                             "($ENGRAM_CA_FILE; default plaintext)")
    parser.add_argument("--namespace", default=f"example-python-{os.getpid()}-{int(time.time())}",
                        help="namespace to create and delete (must not exist)")
    args = parser.parse_args()
    check(args.api_key, "no API key: pass --api_key or set ENGRAM_API_KEY")

    # Every call carries the key as metadata "authorization: Bearer <key>".
    auth = [("authorization", f"Bearer {args.api_key}")]
    if args.ca_file:
        # TLS, verifying engram-api against this CA (grpc.ssl_channel_credentials() with no
        # argument uses the system's CAs, e.g. behind a public Ingress).
        with open(args.ca_file, "rb") as ca:
            credentials = grpc.ssl_channel_credentials(root_certificates=ca.read())
        channel = grpc.secure_channel(args.addr, credentials)
    else:
        channel = grpc.insecure_channel(args.addr)
    with channel:
        stub = pb_grpc.EngramStub(channel)
        try:
            stub.CreateNamespace(pb.CreateNamespaceRequest(name=args.namespace), metadata=auth,
                                 timeout=TIMEOUT_S, wait_for_ready=True)
            print(f"created namespace {args.namespace} at {args.addr}")
            try:
                run(stub, auth, args.namespace)
            finally:
                stub.DeleteNamespace(pb.DeleteNamespaceRequest(namespace=args.namespace),
                                     metadata=auth, timeout=TIMEOUT_S)
            try:
                stub.GetNamespace(pb.GetNamespaceRequest(namespace=args.namespace), metadata=auth,
                                  timeout=TIMEOUT_S)
                check(False, "the namespace is still there after DeleteNamespace")
            except grpc.RpcError as e:
                check(e.code() == grpc.StatusCode.NOT_FOUND, f"GetNamespace after delete: {e.code().name}")
            print(f"deleted namespace {args.namespace}\nOK")
        except grpc.RpcError as e:  # a failed call: its status code and message
            sys.exit(f"FAIL: {e.code().name}: {e.details()}")


if __name__ == "__main__":
    main()
