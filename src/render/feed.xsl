<?xml version="1.0" encoding="utf-8"?>
<!--
  broadsheet's feed preview: what a browser shows for an RSS 2.0 or Atom 1.0
  feed that names this stylesheet. XSLT 1.0, the version browsers run.
  Feed readers never read it.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:atom="http://www.w3.org/2005/Atom"
    exclude-result-prefixes="atom">
  <xsl:output method="html" encoding="utf-8" doctype-system="about:legacy-compat"/>

  <xsl:template match="/">
    <xsl:variable name="self" select="(rss/channel/atom:link | atom:feed/atom:link)[@rel = 'self']/@href"/>
    <xsl:variable name="home" select="rss/channel/link | atom:feed/atom:link[@rel = 'alternate']/@href"/>
    <xsl:variable name="title" select="rss/channel/title | atom:feed/atom:title"/>
    <html lang="{rss/channel/language | atom:feed/@xml:lang}">
      <head>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title><xsl:value-of select="$title"/> (web feed)</title>
        <style>
          body{font-family:Georgia,serif;max-width:42rem;margin:2rem auto;padding:0 1rem;line-height:1.55;color:#222}
          a{color:#1a4f8b}h1{line-height:1.2;margin-bottom:.3rem}
          .about{background:#f3f0e6;border-left:4px solid #1a4f8b;padding:.8rem 1rem;font-family:system-ui,sans-serif;font-size:.95rem}
          .about input{width:100%;box-sizing:border-box;font:inherit;font-family:ui-monospace,monospace;padding:.3rem;margin:.4rem 0}
          ol{list-style:none;padding:0}li{margin:0 0 1.2rem}.date{color:#555;font-size:.9rem}li p{margin:.2rem 0}
        </style>
      </head>
      <body>
        <div class="about">
          <p><strong>This is a web feed</strong>
            (<xsl:choose><xsl:when test="rss">RSS 2.0</xsl:when><xsl:otherwise>Atom 1.0</xsl:otherwise></xsl:choose>).
            To follow it, copy its address into your feed reader (newsboat, NetNewsWire,
            Feedly, Thunderbird, …); new articles then come to you.</p>
          <input type="text" readonly="readonly" value="{$self}" aria-label="Feed address" onclick="this.select()"/>
        </div>
        <header>
          <h1><xsl:value-of select="$title"/></h1>
          <p><xsl:value-of select="rss/channel/description | atom:feed/atom:subtitle"/></p>
          <p><a href="{$home}">Visit the website</a></p>
        </header>
        <main>
          <ol>
            <xsl:apply-templates select="rss/channel/item | atom:feed/atom:entry"/>
          </ol>
        </main>
      </body>
    </html>
  </xsl:template>

  <xsl:template match="item">
    <li>
      <a href="{link}"><xsl:value-of select="title"/></a>
      <div class="date"><xsl:value-of select="pubDate"/></div>
      <xsl:if test="description">
        <!-- An RSS description (and an Atom summary) is HTML: it holds
             the plain-text summary escaped, shown here as the text it was. -->
        <p>
          <xsl:call-template name="html-text">
            <xsl:with-param name="html" select="description"/>
          </xsl:call-template>
        </p>
      </xsl:if>
    </li>
  </xsl:template>

  <xsl:template match="atom:entry">
    <li>
      <a href="{atom:link[@rel = 'alternate']/@href}"><xsl:value-of select="atom:title"/></a>
      <div class="date"><xsl:value-of select="substring(atom:published, 1, 10)"/></div>
      <xsl:if test="atom:summary">
        <p>
          <xsl:call-template name="html-text">
            <xsl:with-param name="html" select="atom:summary"/>
          </xsl:call-template>
        </p>
      </xsl:if>
    </li>
  </xsl:template>

  <!-- The text of HTML that is escaped plain text: the four escapes undone,
       `&amp;` last, so that an escaped escape stays one. -->
  <xsl:template name="html-text">
    <xsl:param name="html"/>
    <xsl:variable name="lt">
      <xsl:call-template name="replace">
        <xsl:with-param name="text" select="string($html)"/>
        <xsl:with-param name="from" select="'&amp;lt;'"/>
        <xsl:with-param name="to" select="'&lt;'"/>
      </xsl:call-template>
    </xsl:variable>
    <xsl:variable name="gt">
      <xsl:call-template name="replace">
        <xsl:with-param name="text" select="string($lt)"/>
        <xsl:with-param name="from" select="'&amp;gt;'"/>
        <xsl:with-param name="to" select="'&gt;'"/>
      </xsl:call-template>
    </xsl:variable>
    <xsl:variable name="quot">
      <xsl:call-template name="replace">
        <xsl:with-param name="text" select="string($gt)"/>
        <xsl:with-param name="from" select="'&amp;quot;'"/>
        <xsl:with-param name="to" select="'&quot;'"/>
      </xsl:call-template>
    </xsl:variable>
    <xsl:call-template name="replace">
      <xsl:with-param name="text" select="string($quot)"/>
      <xsl:with-param name="from" select="'&amp;amp;'"/>
      <xsl:with-param name="to" select="'&amp;'"/>
    </xsl:call-template>
  </xsl:template>

  <xsl:template name="replace">
    <xsl:param name="text"/>
    <xsl:param name="from"/>
    <xsl:param name="to"/>
    <xsl:choose>
      <xsl:when test="contains($text, $from)">
        <xsl:value-of select="substring-before($text, $from)"/>
        <xsl:value-of select="$to"/>
        <xsl:call-template name="replace">
          <xsl:with-param name="text" select="substring-after($text, $from)"/>
          <xsl:with-param name="from" select="$from"/>
          <xsl:with-param name="to" select="$to"/>
        </xsl:call-template>
      </xsl:when>
      <xsl:otherwise>
        <xsl:value-of select="$text"/>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>
</xsl:stylesheet>
