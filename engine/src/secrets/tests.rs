use super::*;

const A: &str = "a=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const B: &str = "b=HxwdHhsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA=";

fn ring(text: &str) -> KeyRing {
    KeyRing::parse(text).unwrap()
}

#[test]
fn a_sealed_secret_opens_for_its_owner_only() {
    let ring = ring(A);
    let sealed = ring.seal("conn-1", b"refresh-token");
    assert_eq!(
        ring.open("conn-1", &sealed).unwrap().as_slice(),
        b"refresh-token"
    );
    assert!(matches!(
        ring.open("conn-2", &sealed),
        Err(SecretsError::Tampered)
    ));
    // The secret's bytes appear nowhere in the sealed form, and two seals differ.
    assert!(!sealed.windows(13).any(|window| window == b"refresh-token"));
    assert_ne!(ring.seal("conn-1", b"refresh-token"), sealed);
}

#[test]
fn a_changed_byte_is_refused() {
    let ring = ring(A);
    let sealed = ring.seal("conn-1", b"secret");
    for index in 0..sealed.len() {
        let mut altered = sealed.clone();
        altered[index] ^= 1;
        assert!(ring.open("conn-1", &altered).is_err(), "byte {index}");
    }
    assert!(matches!(
        ring.open("conn-1", &sealed[..10]),
        Err(SecretsError::Malformed(_))
    ));
    assert!(matches!(
        ring.open("conn-1", b""),
        Err(SecretsError::Malformed(_))
    ));
}

#[test]
fn rotation_keeps_old_secrets_readable_and_says_which_to_reseal() {
    let old = ring(A);
    let sealed = old.seal("conn-1", b"secret");
    let rotated = ring(&format!("{B}\n{A}"));
    assert_eq!(rotated.active_id(), "b");
    assert!(rotated.needs_reseal(&sealed).unwrap());
    assert_eq!(
        rotated.open("conn-1", &sealed).unwrap().as_slice(),
        b"secret"
    );
    let resealed = rotated.seal("conn-1", b"secret");
    assert!(!rotated.needs_reseal(&resealed).unwrap());
    // The old key alone cannot open what the new one sealed, and says which key it lacks.
    match old.open("conn-1", &resealed) {
        Err(SecretsError::MissingKey(id)) => assert_eq!(id, "b"),
        other => panic!("{other:?}"),
    }
    // Which key a secret needs is told without opening it.
    assert!(rotated.check_key(&sealed).is_ok());
    match old.check_key(&resealed) {
        Err(SecretsError::MissingKey(id)) => assert_eq!(id, "b"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        old.check_key(b"\x01"),
        Err(SecretsError::Malformed(_))
    ));
}

#[test]
fn bad_key_entries_say_what_is_wrong() {
    let error = |text: &str| KeyRing::parse(text).unwrap_err().to_string();
    assert!(error("").contains("no secret key is configured"));
    assert!(error("AAEC").contains("no `id=`"));
    assert!(error("a=not base64!").contains("not base64"));
    assert!(error("a=AAEC").contains("it must be 32"));
    assert!(error(&format!("{A},{A}")).contains("given twice"));
    assert!(error("a b=AAEC").contains("an id is"));
    // Comments and blank lines are skipped.
    assert_eq!(ring(&format!("# keys\n\n{A}\n")).active_id(), "a");
}

#[test]
fn the_debug_form_names_keys_but_not_their_bytes() {
    let text = format!("{:?}", ring(&format!("{A},{B}")));
    assert!(text.contains("\"a\"") && text.contains("\"b\""));
    assert!(!text.contains("AAEC"));
}

#[test]
fn a_missing_key_file_is_made_private_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let (ring, source) = KeyRing::load_or_create(None, dir.path()).unwrap();
    let path = dir.path().join(KEY_FILE);
    assert_eq!(source, KeySource::Created(path.clone()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let sealed = ring.seal("conn-1", b"secret");
    let (again, source) = KeyRing::load_or_create(None, dir.path()).unwrap();
    assert_eq!(source, KeySource::File(path));
    assert_eq!(again.open("conn-1", &sealed).unwrap().as_slice(), b"secret");
    // A key file that was named must exist: it is never made.
    let named = dir.path().join("elsewhere.key");
    assert!(matches!(
        KeyRing::load_or_create(Some(&named), dir.path()),
        Err(SecretsError::KeyFile { .. })
    ));
}
