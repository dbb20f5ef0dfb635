from chalicelib.sqlparams import compile_named


def test_placeholders_become_positional_and_casts_strings_comments_stay():
    sql = ("SELECT :a::numeric, 'it''s :not', E'x\\' :no', \"col:x\", $$ :body $$, x % 2 -- :comment\n"
           " /* :block /* nested */ */ FROM t WHERE y = :b AND z = CAST(:a AS int)")
    out = compile_named(sql)
    assert out.names == ("a", "b")
    assert "$1::numeric" in out.sql and "'it''s :not'" in out.sql and "E'x\\' :no'" in out.sql
    assert '"col:x"' in out.sql and "$$ :body $$" in out.sql and "x % 2" in out.sql
    assert "-- :comment" in out.sql and "/* :block /* nested */ */" in out.sql
    assert "y = $2" in out.sql and "CAST($1 AS int)" in out.sql


def test_the_regex_pass_compiles_like_the_character_walk():
    """Simple texts (no comments, dollar quotes, backslashes, unbalanced quotes) take
    a one-regex pass; every text it takes compiles exactly as the walk does."""
    from hypothesis import given, settings, strategies as st

    from chalicelib.sqlparams import _compile, _compile_walk

    tokens = st.sampled_from([":a", ":b1", ":_c", "::", ":", "::int", "'x :a'", "'it''s :b'", '"c:x"', '""', "''",
                              " ", ",", "(", ")", "x", "1", "$1", "-- :a\n", "/* :a */", "E'\\' :a'", "'", '"'])

    @settings(max_examples=200, deadline=None)
    @given(st.lists(tokens, max_size=30))
    def check(parts):
        sql = "".join(parts)
        assert _compile(sql) == _compile_walk(sql)

    check()
    big = "INSERT INTO t VALUES " + ", ".join(f"(:k{i}, CAST(:m{i} AS numeric), 'free')" for i in range(2000))
    out = _compile(big)
    assert out == _compile_walk(big) and len(out.names) == 4000
    assert out.sql.endswith("($3999, CAST($4000 AS numeric), 'free')")


def test_a_quote_inside_a_literal_pairs_nothing():
    """Found by the property above: even quote counts, yet the '"' inside '..' leaves
    the second '"' unterminated, so ':a' after it is not a placeholder."""
    from chalicelib.sqlparams import _compile, _compile_walk

    sql = "'\"'\":a"
    assert _compile(sql) == _compile_walk(sql)
    assert _compile(sql).names == ()
