"""BIP32 test vectors 1-3 and BIP84/BIP39 derivation.

Vectors 1 and 2: BIP32 text, "Test Vectors" section (github.com/bitcoin/bips,
bip-0032.mediawiki). Vector 3 (retention of leading zeros) is from the same section of the
current BIP text (also in Bitcoin Core's src/test/bip32_tests.cpp).
"""

from __future__ import annotations

import pytest

from wattchain.core.hashes import hash160
from wattchain.script.address import decode_segwit_address
from wattchain.wallet.errors import InvalidParameter, KeyDerivationError
from wattchain.wallet.hd import (MAIN_VERSIONS, TEST_VERSIONS, ExtendedKey, account_path,
                                 format_path, parse_path)
from wattchain.wallet.mnemonic import generate_mnemonic, mnemonic_to_seed, validate_mnemonic

H = 0x80000000

VECTOR_1 = ("000102030405060708090a0b0c0d0e0f", [
    ([], "xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8",
     "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi"),
    ([0 + H], "xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw",
     "xprv9uHRZZhk6KAJC1avXpDAp4MDc3sQKNxDiPvvkX8Br5ngLNv1TxvUxt4cV1rGL5hj6KCesnDYUhd7oWgT11eZG7XnxHrnYeSvkzY7d2bhkJ7"),
    ([0 + H, 1], "xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2AxYysAA7xmALppuCkwQ",
     "xprv9wTYmMFdV23N2TdNG573QoEsfRrWKQgWeibmLntzniatZvR9BmLnvSxqu53Kw1UmYPxLgboyZQaXwTCg8MSY3H2EU4pWcQDnRnrVA1xe8fs"),
    ([0 + H, 1, 2 + H], "xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5",
     "xprv9z4pot5VBttmtdRTWfWQmoH1taj2axGVzFqSb8C9xaxKymcFzXBDptWmT7FwuEzG3ryjH4ktypQSAewRiNMjANTtpgP4mLTj34bhnZX7UiM"),
    ([0 + H, 1, 2 + H, 2], "xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV",
     "xprvA2JDeKCSNNZky6uBCviVfJSKyQ1mDYahRjijr5idH2WwLsEd4Hsb2Tyh8RfQMuPh7f7RtyzTtdrbdqqsunu5Mm3wDvUAKRHSC34sJ7in334"),
    ([0 + H, 1, 2 + H, 2, 1000000000], "xpub6H1LXWLaKsWFhvm6RVpEL9P4KfRZSW7abD2ttkWP3SSQvnyA8FSVqNTEcYFgJS2UaFcxupHiYkro49S8yGasTvXEYBVPamhGW6cFJodrTHy",
     "xprvA41z7zogVVwxVSgdKUHDy1SKmdb533PjDz7J6N6mV6uS3ze1ai8FHa8kmHScGpWmj4WggLyQjgPie1rFSruoUihUZREPSL39UNdE3BBDu76"),
])

VECTOR_2 = ("fffcf9f6f3f0edeae7e4e1dedbd8d5d2cfccc9c6c3c0bdbab7b4b1aeaba8a5a29f9c999693908d8a8784817e7b7875726f6c696663605d5a5754514e4b484542", [
    ([], "xpub661MyMwAqRbcFW31YEwpkMuc5THy2PSt5bDMsktWQcFF8syAmRUapSCGu8ED9W6oDMSgv6Zz8idoc4a6mr8BDzTJY47LJhkJ8UB7WEGuduB",
     "xprv9s21ZrQH143K31xYSDQpPDxsXRTUcvj2iNHm5NUtrGiGG5e2DtALGdso3pGz6ssrdK4PFmM8NSpSBHNqPqm55Qn3LqFtT2emdEXVYsCzC2U"),
    ([0], "xpub69H7F5d8KSRgmmdJg2KhpAK8SR3DjMwAdkxj3ZuxV27CprR9LgpeyGmXUbC6wb7ERfvrnKZjXoUmmDznezpbZb7ap6r1D3tgFxHmwMkQTPH",
     "xprv9vHkqa6EV4sPZHYqZznhT2NPtPCjKuDKGY38FBWLvgaDx45zo9WQRUT3dKYnjwih2yJD9mkrocEZXo1ex8G81dwSM1fwqWpWkeS3v86pgKt"),
    ([0, 2147483647 + H], "xpub6ASAVgeehLbnwdqV6UKMHVzgqAG8Gr6riv3Fxxpj8ksbH9ebxaEyBLZ85ySDhKiLDBrQSARLq1uNRts8RuJiHjaDMBU4Zn9h8LZNnBC5y4a",
     "xprv9wSp6B7kry3Vj9m1zSnLvN3xH8RdsPP1Mh7fAaR7aRLcQMKTR2vidYEeEg2mUCTAwCd6vnxVrcjfy2kRgVsFawNzmjuHc2YmYRmagcEPdU9"),
    ([0, 2147483647 + H, 1], "xpub6DF8uhdarytz3FWdA8TvFSvvAh8dP3283MY7p2V4SeE2wyWmG5mg5EwVvmdMVCQcoNJxGoWaU9DCWh89LojfZ537wTfunKau47EL2dhHKon",
     "xprv9zFnWC6h2cLgpmSA46vutJzBcfJ8yaJGg8cX1e5StJh45BBciYTRXSd25UEPVuesF9yog62tGAQtHjXajPPdbRCHuWS6T8XA2ECKADdw4Ef"),
    ([0, 2147483647 + H, 1, 2147483646 + H], "xpub6ERApfZwUNrhLCkDtcHTcxd75RbzS1ed54G1LkBUHQVHQKqhMkhgbmJbZRkrgZw4koxb5JaHWkY4ALHY2grBGRjaDMzQLcgJvLJuZZvRcEL",
     "xprvA1RpRA33e1JQ7ifknakTFpgNXPmW2YvmhqLQYMmrj4xJXXWYpDPS3xz7iAxn8L39njGVyuoseXzU6rcxFLJ8HFsTjSyQbLYnMpCqE2VbFWc"),
    ([0, 2147483647 + H, 1, 2147483646 + H, 2], "xpub6FnCn6nSzZAw5Tw7cgR9bi15UV96gLZhjDstkXXxvCLsUXBGXPdSnLFbdpq8p9HmGsApME5hQTZ3emM2rnY5agb9rXpVGyy3bdW6EEgAtqt",
     "xprvA2nrNbFZABcdryreWet9Ea4LvTJcGsqrMzxHx98MMrotbir7yrKCEXw7nadnHM8Dq38EGfSh6dqA9QWTyefMLEcBYJUuekgW4BYPJcr9E7j"),
])

VECTOR_3 = ("4b381541583be4423346c643850da4b320e46a87ae3d2a4e6da11eba819cd4acba45d239319ac14f863b8d5ab5a0d0c64d2e8a1e7d1457df2e5a3c51c73235be", [
    ([], "xpub661MyMwAqRbcEZVB4dScxMAdx6d4nFc9nvyvH3v4gJL378CSRZiYmhRoP7mBy6gSPSCYk6SzXPTf3ND1cZAceL7SfJ1Z3GC8vBgp2epUt13",
     "xprv9s21ZrQH143K25QhxbucbDDuQ4naNntJRi4KUfWT7xo4EKsHt2QJDu7KXp1A3u7Bi1j8ph3EGsZ9Xvz9dGuVrtHHs7pXeTzjuxBrCmmhgC6"),
    ([0 + H], "xpub68NZiKmJWnxxS6aaHmn81bvJeTESw724CRDs6HbuccFQN9Ku14VQrADWgqbhhTHBaohPX4CjNLf9fq9MYo6oDaPPLPxSb7gwQN3ih19Zm4Y",
     "xprv9uPDJpEQgRQfDcW7BkF7eTya6RPxXeJCqCJGHuCJ4GiRVLzkTXBAJMu2qaMWPrS7AANYqdq6vcBcBUdJCVVFceUvJFjaPdGZ2y9WACViL4L"),
])


@pytest.mark.parametrize("vector", [VECTOR_1, VECTOR_2, VECTOR_3], ids=["v1", "v2", "v3"])
def test_bip32_vectors(vector: tuple) -> None:
    seed_hex, steps = vector
    master = ExtendedKey.from_seed(bytes.fromhex(seed_hex))
    for path, xpub, xprv in steps:
        key = master.derive(path)
        assert key.to_base58() == xprv, format_path(path)
        assert key.neuter().to_base58() == xpub, format_path(path)
        # Round trip through the serialization, and public derivation where possible.
        assert ExtendedKey.from_base58(xprv) == key
        assert ExtendedKey.from_base58(xpub) == key.neuter()
        if path and path[-1] < H:
            parent = master.derive(path[:-1]).neuter()
            assert parent.child(path[-1]).to_base58() == xpub


def test_public_parent_cannot_derive_hardened_child() -> None:
    xpub = ExtendedKey.from_seed(bytes(16)).neuter()
    with pytest.raises(KeyDerivationError, match="hardened"):
        xpub.child(H)


def test_extended_key_rejects_bad_input() -> None:
    xprv = ExtendedKey.from_seed(bytes(range(16)))
    with pytest.raises(KeyDerivationError, match="unknown extended key version"):
        ExtendedKey.from_base58(xprv.to_base58(TEST_VERSIONS), MAIN_VERSIONS)
    raw = bytearray(xprv.serialize())
    raw[45] = 1  # private key without its 0x00 prefix
    with pytest.raises(KeyDerivationError, match="0x00 prefix"):
        ExtendedKey.deserialize(bytes(raw))
    with pytest.raises(KeyDerivationError):
        ExtendedKey.from_base58(xprv.to_base58()[:-1] + "1")  # bad checksum
    with pytest.raises(KeyDerivationError, match="must start with 'm'"):
        parse_path("84'/0'")


def test_paths_parse_and_format() -> None:
    assert parse_path("m/84'/1h/0'/0/5") == [84 + H, 1 + H, H, 0, 5]
    assert format_path([84 + H, 1 + H, H, 1, 7]) == "m/84'/1'/0'/1/7"
    assert account_path("main") == [84 + H, H, H]
    assert account_path("regtest") == [84 + H, 1 + H, H]


# BIP39 reference vectors (github.com/trezor/python-mnemonic vectors.json, passphrase "TREZOR").
BIP39_VECTORS = [
    ("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon "
     "about",
     "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2"
     "cf141630c7a3c4ab7c81b2f001698e7463b04",
     "xprv9s21ZrQH143K3h3fDYiay8mocZ3afhfULfb5GX8kCBdno77K4HiA15Tg23wpbeF1pLfs1c5SPmYHrEpTuuRhxMw"
     "vKDwqdKiGJS9XFKzUsAF"),
    ("legal winner thank year wave sausage worth useful legal winner thank yellow",
     "2e8905819b8723fe2c1d161860e5ee1830318dbf49a83bd451cfb8440c28bd6fa457fe1296106559a3c80937a1c"
     "1069be3a3a5bd381ee6260e8d9739fce1f607", None),
]


@pytest.mark.parametrize("words,seed_hex,xprv", BIP39_VECTORS)
def test_bip39_vectors(words: str, seed_hex: str, xprv: str | None) -> None:
    seed = mnemonic_to_seed(words, "TREZOR")
    assert seed.hex() == seed_hex
    if xprv is not None:
        assert ExtendedKey.from_seed(seed).to_base58() == xprv


def test_bip84_first_address_matches_the_bip() -> None:
    # BIP84 test vector: the "abandon ... about" mnemonic, no passphrase, m/84'/0'/0'/0/0.
    seed = mnemonic_to_seed("abandon " * 11 + "about")
    key = ExtendedKey.from_seed(seed).derive("m/84'/0'/0'/0/0")
    assert key.key.hex() == "0330d54fd0dd420a6e5f8d3624f5f3482cae350f79d5f0753bf5beef9c2d91af3c"
    _, program = decode_segwit_address("bc", "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu")
    assert program == hash160(key.key)


def test_mnemonic_validation() -> None:
    words = generate_mnemonic(12)
    assert len(words.split()) == 12
    assert validate_mnemonic("  " + words.upper() + " ") == words
    assert len(generate_mnemonic(24).split()) == 24
    with pytest.raises(InvalidParameter, match="checksum"):
        validate_mnemonic("abandon " * 12)
    with pytest.raises(InvalidParameter, match="12, 15, 18, 21 or 24"):
        validate_mnemonic("abandon about")
    with pytest.raises(InvalidParameter):
        generate_mnemonic(13)
